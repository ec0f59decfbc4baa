import json
import logging
import sys

import numpy as np
import pytest

from ser.bin import kmeans as kmeans_bin
from ser.cluster.kmeans import KMeans
from ser.data.datadir import DataDir
from ser.features.store import FeatReader, FeatWriter
from ser.utils import SerError


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny problems: a second thread only adds synchronisation (costly on a busy CI machine)."""
    import faiss
    import torch

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    faiss.omp_set_num_threads(before[1])


@pytest.fixture
def fold(tmp_path):
    """Speakers A and B (train) have frames near two points; test speaker C sits far away, so a
    codebook fitted with C's frames would put a centroid near C."""
    rng = np.random.default_rng(0)
    spk_centers = {"A": np.full(6, -5.0), "B": np.full(6, 5.0), "C": np.full(6, 500.0)}
    utt2spk = {}
    # two layers side by side, like an upstream dump; layer 1 is the one clustered
    with FeatWriter(tmp_path / "dump" / "feats", float16=True, meta={"num_layers": 2, "dim": 6}) as w:
        for spk, center in spk_centers.items():
            for i in range(6):
                utt = f"{spk}_{i}"
                n = int(rng.integers(20, 60))
                layer1 = center + rng.standard_normal((n, 6))
                w(utt, np.concatenate([rng.standard_normal((n, 6)), layer1], 1))
                utt2spk[utt] = spk
    for name, spks in {"train": "AB", "test": "C"}.items():
        DataDir({"utt2spk": {u: s for u, s in utt2spk.items() if s in spks}}).write(tmp_path / name)
    return tmp_path


def run(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["kmeans", *map(str, args)])
    kmeans_bin.main()


def common(fold, out, backend="torch"):
    return [
        "--feats",
        fold / "dump" / "feats.scp",
        "--layer",
        "-1",
        "--fit-dir",
        fold / "train",
        "--ks",
        "2,4",
        "--backend",
        backend,
        "--out",
        out,
    ]


def test_fits_on_train_speakers_only_and_labels_all(fold, monkeypatch):
    out = fold / "km"
    run(monkeypatch, *common(fold, out), "--label-all")
    info = json.loads((out / "fit_info.json").read_text())
    assert info["fit_speakers"] == ["A", "B"] and info["num_fit_utts"] == 12
    assert (out / "fit_utts").read_text().split() == DataDir.load(fold / "train").utts
    km2 = KMeans.load(out / "km_k2.npz")
    assert np.abs(km2.centroids).max() < 50  # nothing was pulled towards test speaker C (at 500)
    store = FeatReader(fold / "dump" / "feats.scp")
    for k in (2, 4):
        labels = FeatReader(out / f"labels_k{k}.scp")
        assert labels.keys() == store.keys()
        assert all(labels[u].shape == (store.num_frames(u),) for u in store.keys())
        stats = json.loads((out / f"labels_k{k}.stats.json").read_text())
        assert stats["frames"] == sum(store.num_frames(u) for u in store.keys())


def test_resumes_and_redoes_only_missing_scales(fold, monkeypatch, caplog):
    out = fold / "km"
    args = common(fold, out, backend="faiss") + ["--label-dirs", f"{fold / 'train'},{fold / 'test'}"]
    run(monkeypatch, *args)
    model4 = (out / "km_k4.npz").read_bytes()
    labels2 = (out / "labels_k2.ark").read_bytes()
    (out / "labels_k4.stats.json").unlink()  # as if killed while labelling K=4
    caplog.clear()
    caplog.set_level(logging.INFO)
    run(monkeypatch, *args)
    assert "K=2: " in caplog.text and "skipping" in caplog.text
    assert (out / "km_k4.npz").read_bytes() == model4  # model kept, only the labels redone
    assert (out / "labels_k2.ark").read_bytes() == labels2 and (out / "labels_k4.stats.json").is_file()
    # a fresh run elsewhere gives identical labels: resuming changes nothing
    run(
        monkeypatch,
        *common(fold, fold / "km_again", backend="faiss"),
        "--label-dirs",
        f"{fold / 'train'},{fold / 'test'}",
    )
    assert (fold / "km_again" / "labels_k4.ark").read_bytes() == (out / "labels_k4.ark").read_bytes()


def test_refuses_other_settings_in_same_out_and_multilayer_without_layer(fold, monkeypatch):
    out = fold / "km"
    run(monkeypatch, *common(fold, out), "--label-all")
    with pytest.raises(SerError, match="seed"):
        run(monkeypatch, *common(fold, out), "--label-all", "--seed", "7")
    with pytest.raises(SerError, match="--layer"):
        run(
            monkeypatch,
            "--feats",
            fold / "dump" / "feats.scp",
            "--fit-dir",
            fold / "train",
            "--label-all",
            "--out",
            fold / "other",
        )
    with pytest.raises(SerError, match="exactly one"):
        run(monkeypatch, *common(fold, fold / "other"))
