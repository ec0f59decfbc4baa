"""train.min_batch_size (issue 18, case 8): a length bucket's one-utterance remainder made ecapa_mtl's
BatchNorm fail ("Expected more than 1 value per channel"); merged into a neighbour, training runs."""

import numpy as np
import pytest
import torch

from ser.data.datadir import DataDir
from ser.data.dataset import UttDataset
from ser.features.store import FeatReader, FeatWriter
from ser.models import build_model
from ser.train.trainer import TrainConfig, Trainer

CLASSES = list("abcdefgh")
INFO = {"num_classes": 8, "classes": CLASSES, "feats": {"fbank": {"dim": 40, "num_layers": 1}}}
SMALL = {"name": "ecapa_mtl", "channels": 16, "blocks": 2, "res2_scale": 4, "mfa_dim": 32, "emb_dim": 16}


def split(tmp_path, name, n):
    rng = np.random.default_rng(n)
    utts = [f"{name}_{i:02d}" for i in range(n)]
    with FeatWriter(tmp_path / f"{name}_fbank", meta={"num_layers": 1, "dim": 40}) as w:
        for u in utts:
            w(u, rng.normal(5, 3, (int(rng.integers(40, 60)), 40)).astype(np.float32))
    DataDir(
        {
            "utt2spk": {u: f"s{i % 3}" for i, u in enumerate(utts)},
            "utt2emo": {u: CLASSES[i % 8] for i, u in enumerate(utts)},
            "utt2gender": {u: "mf"[i % 2] for i, u in enumerate(utts)},
        }
    ).write(tmp_path / name)
    return UttDataset(
        DataDir.load(tmp_path / name), CLASSES, feats={"fbank": FeatReader(tmp_path / f"{name}_fbank.scp")}
    )


def fit(tmp_path, exp, min_batch_size, caplog=None):
    torch.manual_seed(0)
    model = build_model(dict(SMALL), INFO)
    conf = TrainConfig(max_epochs=1, batch_size=4, min_batch_size=min_batch_size, select_metric="last", seed=0)
    # 9 training utterances in batches of 4: a remainder of one.
    return Trainer(model, conf, tmp_path / exp, num_classes=8).fit(
        split(tmp_path, "train", 9), split(tmp_path, "valid", 4)
    )


def test_one_utterance_batch_merged_and_logged(tmp_path, caplog):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        fit(tmp_path, "before", min_batch_size=1)
    with caplog.at_level("INFO"):
        state = fit(tmp_path, "after", min_batch_size=2)
    assert state["done"] and np.isfinite(state["history"][0]["train"]["loss"])
    assert "merged 1 batch(es) below train.min_batch_size=2" in caplog.text
