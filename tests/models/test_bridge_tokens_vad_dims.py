"""bridge_tokens `vad_dims`: the dimensional head, its loss and the scores cover exactly the chosen
dimensions, end to end (train, predict, write, score)."""

import numpy as np
import pytest
import torch

from ser.data.datadir import DataDir
from ser.eval.scoring import score_fold
from ser.features.store import FeatWriter
from ser.train.experiment import DEFAULTS, FeatStores, infer, train
from ser.utils import SerError

CLASSES = ["neu", "hap", "ang", "sad"]


def split(tmp_path, name, n, seed, w):
    rng = np.random.default_rng(seed)
    utts = [f"{name}_{i:03d}" for i in range(n)]
    vad = rng.uniform(1, 5, (n, 3))
    for u, v in zip(utts, vad):
        x = rng.normal(size=(int(rng.integers(4, 9)), 8)).astype(np.float32)
        x[:, :3] += v  # features carry the V/A/D targets
        w(u, x)
    DataDir(
        {
            "utt2spk": {u: f"{name}{i % 2}" for i, u in enumerate(utts)},
            "utt2emo": {u: CLASSES[i % 4] for i, u in enumerate(utts)},
            "utt2vad": {u: " ".join(f"{x:.3f}" for x in v) for u, v in zip(utts, vad)},
        }
    ).write(tmp_path / name)
    return tmp_path / name


def conf(vad_dims):
    return {
        "data": {**DEFAULTS["data"], "feats": ["ssl"]},
        "model": {
            "name": "bridge_tokens",
            "modalities": ["audio"],
            "dim": 16,
            "heads": 2,
            "ffn_dim": 32,
            "num_tokens": 2,
            "audio_layers": 1,
            "vad_dims": vad_dims,
        },
        "train": {**DEFAULTS["train"], "max_epochs": 2, "batch_size": 8, "lr": 1e-3, "select_metric": "ua_ccc"},
    }


def test_valence_arousal_only_end_to_end(tmp_path):
    with FeatWriter(tmp_path / "ssl", meta={"num_layers": 2, "dim": 4}) as w:
        train_dir, valid_dir = split(tmp_path, "train", 24, 0, w), split(tmp_path, "valid", 12, 1, w)
    stores = FeatStores([f"ssl={tmp_path}/ssl.scp"])
    trainer = train(conf(["v", "a"]), train_dir, valid_dir, tmp_path / "exp", stores)
    assert trainer.model.vad_head.out_features == 2
    infer(tmp_path / "exp", valid_dir, tmp_path / "pred", stores, "cpu")
    lines = (tmp_path / "pred" / "utt2vad_pred").read_text().splitlines()
    assert all(line.split()[3] == "nan" and line.split()[1] != "nan" for line in lines)
    scores = score_fold(valid_dir, tmp_path / "pred")
    assert {"ccc_valence", "ccc_arousal", "ccc_mean"} <= set(scores) and "ccc_dominance" not in scores
    assert scores["ccc_mean"] == pytest.approx((scores["ccc_valence"] + scores["ccc_arousal"]) / 2)


def test_loss_reads_the_chosen_columns():
    from ser.models import build_model

    info = {"num_classes": 4, "feats": {"ssl": {"num_layers": 2, "dim": 4}}}
    torch.manual_seed(0)
    m = build_model({"name": "bridge_tokens", "modalities": ["audio"], "dim": 8, "heads": 2, "vad_dims": ["d"]}, info)
    out = {"vad": torch.tensor([[0.1], [0.5], [0.9]])}
    batch = {"vad": torch.tensor([[9.0, 9.0, 0.1], [-9.0, 0.0, 0.5], [0.0, 9.0, 0.9]])}
    assert m.losses(out, batch)["reg"].item() == pytest.approx(0.0, abs=1e-5)  # dominance matches exactly
    with pytest.raises(SerError, match="vad_dims"):
        build_model({"name": "bridge_tokens", "modalities": ["audio"], "vad_dims": ["v", "x"]}, info)
