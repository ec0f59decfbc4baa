"""ser.models.pooled_logreg through ser.bin.train / ser.bin.infer: utterance-level features -> a
logistic regression, C by speaker-grouped inner CV, stored as arrays."""

import json
import sys

import numpy as np
import pytest
import torch
import yaml

from ser.bin import train as train_bin
from ser.data.datadir import read_kv, write_kv
from ser.features.store import FeatWriter
from ser.models.pooled_logreg import speaker_znorm
from ser.utils import SerError

CLASSES = ["a", "b", "c"]


def _corpus(root, speakers_of_split, seed=0):
    """Class-dependent means plus a large per-speaker offset (what --speaker-norm removes)."""
    rng = np.random.default_rng(seed)
    dirs = {}
    with FeatWriter(root / "feats", meta={"kind": "test"}) as write:
        for split, speakers in speakers_of_split.items():
            utt2spk, utt2emo = {}, {}
            for s in speakers:
                offset = rng.normal(0, 1, 20)
                for i in range(30):
                    u, c = f"{s}_{i:02d}", i % 3
                    write(u, (offset + 2.0 * np.eye(20)[c] + rng.normal(0, 0.5, 20)).reshape(1, -1))
                    utt2spk[u], utt2emo[u] = s, CLASSES[c]
            d = root / split
            d.mkdir()
            write_kv(d / "utt2spk", utt2spk)
            write_kv(d / "utt2emo", utt2emo)
            write_kv(d / "wav.scp", {u: f"/nonexistent/{u}.wav" for u in utt2spk})
            dirs[split] = d
    return root / "feats.scp", dirs


def _run(monkeypatch, feats, train, test, exp, valid=None, classes=None, cs=None, speed_copies=None):
    """A logreg config trained on `train` (+ `valid`) and predicting `test` through ser.bin.train."""
    model = {"name": "logreg"}
    if cs:
        model["cs"] = [float(c) for c in cs.split(",")]
    if speed_copies:
        model["speed_copies"] = [float(c) for c in speed_copies.split(",")]
    conf = {"data": {"classes": classes.split(",") if classes else CLASSES, "feats": ["x"]}, "model": model}
    path = exp.parent / f"{exp.name}.yaml"
    path.write_text(yaml.safe_dump(conf))
    argv = ["train", "--config", path, "--feat", f"x={feats}", "--exp-dir", exp]
    argv += ["--train-dir", train, "--valid-dir", valid or train]
    argv += ["--infer-data", test, "--infer-out", exp / "infer_test"]
    monkeypatch.setattr(sys, "argv", list(map(str, argv)))
    train_bin.main()


def test_trains_chooses_c_and_predicts_every_test_utterance(tmp_path, monkeypatch):
    scp, d = _corpus(tmp_path, {"train": ["s1", "s2", "s3"], "valid": ["s4"], "test": ["s5", "s6"]})
    exp = tmp_path / "exp"
    _run(monkeypatch, feats=scp, train=d["train"], valid=d["valid"], test=d["test"], exp=exp, cs="1e-3,1")
    search = json.loads((exp / "search.json").read_text())
    assert search["train_speakers"] == ["s1", "s2", "s3", "s4"] and search["train_utts"] == 120
    # arrays only: loadable without unpickling anything
    assert set(torch.load(exp / "model.best.pt", weights_only=True)) >= {"mean", "scale", "coef", "intercept"}
    assert set(search["inner_cv_ua"]) == {"0.001", "1.0"} and search["chosen_c"] in (1e-3, 1.0)
    post = read_kv(exp / "infer_test/utt2post")
    pred = read_kv(exp / "infer_test/utt2emo_pred")
    gold = read_kv(d["test"] / "utt2emo")
    assert sorted(post) == sorted(gold) == sorted(pred)
    assert all(abs(sum(map(float, p.split())) - 1) < 1e-3 for p in post.values())
    assert np.mean([pred[u] == gold[u] for u in gold]) > 0.6  # well above chance (1/3)


def test_speaker_norm_removes_speaker_offsets():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(5, 2, (10, 4)), rng.normal(-5, 1, (10, 4))])
    z = speaker_znorm(x, ["p"] * 10 + ["q"] * 10)
    assert np.allclose(z[:10].mean(0), 0, atol=1e-9) and np.allclose(z[10:].std(0), 1, atol=1e-6)


def test_a_test_speaker_in_training_is_an_error(tmp_path, monkeypatch):
    scp, d = _corpus(tmp_path, {"train": ["s1", "s2"], "test": ["s2"]})
    with pytest.raises(SerError, match=r"speakers \['s2'\] are also training speakers"):
        _run(monkeypatch, feats=scp, train=d["train"], test=d["test"], exp=tmp_path / "exp")


def test_unknown_label_names_the_file(tmp_path, monkeypatch):
    scp, d = _corpus(tmp_path, {"train": ["s1", "s2"], "test": ["s3"]})
    with pytest.raises(SerError, match="utt2emo: labels \\['c'\\] are not in the config's classes a,b"):
        _run(monkeypatch, feats=scp, classes="a,b", train=d["train"], test=d["test"], exp=tmp_path / "exp")


def _add_speed_copies(scp, root, factors, skip=()):
    """A second store holding the originals and their copies sp<f>-<utt> (what speed_perturb_dir + a
    dump of its output give), each copy its original plus a small shift."""
    from ser.features.store import FeatReader

    orig = FeatReader(scp)
    with FeatWriter(root / "feats_sp", meta={"kind": "test"}) as write:
        for u in orig.keys():
            write(u, orig[u])
            for f in factors:
                if f"sp{f:g}-{u}" not in skip:
                    write(f"sp{f:g}-{u}", orig[u] + 0.1 * f)
    return root / "feats_sp.scp"


def test_speed_copies_train_on_more_rows_grouped_by_original_speaker(tmp_path, monkeypatch):
    scp, d = _corpus(tmp_path, {"train": ["s1", "s2", "s3"], "valid": ["s4"], "test": ["s5"]})
    scp_sp = _add_speed_copies(scp, tmp_path, [0.9, 1.1])
    exp = tmp_path / "exp"
    _run(
        monkeypatch,
        feats=scp_sp,
        train=d["train"],
        valid=d["valid"],
        test=d["test"],
        exp=exp,
        cs="1e-3,1",
        speed_copies="0.9,1.1",
    )
    search = json.loads((exp / "search.json").read_text())
    assert search["train_utts"] == 120 and search["train_rows"] == 360 and search["speed_copies"] == [0.9, 1.1]
    assert search["train_speakers"] == ["s1", "s2", "s3", "s4"]  # copies join their original's CV group
    assert sorted(read_kv(exp / "infer_test/utt2post")) == sorted(read_kv(d["test"] / "utt2emo"))  # no copies


def test_a_missing_speed_copy_names_the_store(tmp_path, monkeypatch):
    scp, d = _corpus(tmp_path, {"train": ["s1", "s2"], "test": ["s3"]})
    scp_sp = _add_speed_copies(scp, tmp_path, [0.9], skip={"sp0.9-s1_03"})
    with pytest.raises(SerError, match=r"feats_sp.scp: 1 speed-perturbed copies have no row \(e.g. sp0.9-s1_03\)"):
        _run(monkeypatch, feats=scp_sp, train=d["train"], test=d["test"], exp=tmp_path / "exp", speed_copies="0.9")


def test_stored_arrays_give_scikit_learns_posteriors():
    from ser.models.pooled_logreg import make_pipeline_for, softmax_posteriors

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(90, 6)), np.repeat([0, 2, 3], 30)  # class 1 absent from training
    x[:, 0] += y
    pipe = make_pipeline_for(0.1).fit(x, y)
    arrays = {
        "mean": pipe[0].mean_,
        "scale": pipe[0].scale_,
        "coef": pipe[-1].coef_,
        "intercept": pipe[-1].intercept_,
        "seen_classes": pipe[-1].classes_.astype(float),
        "num_classes": np.array(4.0),
    }
    post = softmax_posteriors(arrays, x[:7])
    assert np.allclose(post[:, [0, 2, 3]], pipe.predict_proba(x[:7]), atol=1e-12) and not post[:, 1].any()
