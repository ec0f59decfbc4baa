"""A joint model selected on `ua_ccc` (mean of UA and mean CCC) keeps the epoch best on both,
not the UA-best epoch whose CCC may be poor."""

import json

import numpy as np
import torch
from torch import nn

from ser.data.datadir import DataDir
from ser.data.dataset import UttDataset
from ser.eval.metrics import add_combined
from ser.features.store import FeatReader, FeatWriter
from ser.train.trainer import TrainConfig, Trainer

CLASSES = ["neu", "hap", "ang", "sad"]
# Per epoch: (fraction of validation utterances classified right, noise on V/A/D). Epoch 1 is
# UA-best with useless V/A/D; epoch 2 is a little worse on UA and far better on CCC.
SCRIPT = {1: (1.0, 5.0), 2: (0.75, 0.05), 3: (0.5, 0.05)}


class Scripted(nn.Module):
    """Predicts what SCRIPT says for the current epoch, from the targets."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.epoch = 0

    def on_epoch_start(self, epoch, history):
        self.epoch = epoch

    def forward(self, batch):
        return {"loss": (self.w**2).sum() + 1.0, "logs": {}}

    def predict(self, batch):
        right, noise = SCRIPT[self.epoch]
        emo = batch["emo"].clone()
        wrong = torch.arange(len(emo)) % 4 >= int(right * 4)
        emo[wrong] = (emo[wrong] + 1) % 4
        gen = torch.Generator().manual_seed(self.epoch)
        vad = batch["vad"] + noise * torch.randn(batch["vad"].shape, generator=gen)
        return {"emo_logits": nn.functional.one_hot(emo, 4).float(), "vad": vad}


def split(tmp_path, name, n):
    rng = np.random.default_rng(0)
    utts = [f"{name}_{i:03d}" for i in range(n)]
    emo = {u: CLASSES[(i // 4) % 4] for i, u in enumerate(utts)}
    vad = {u: " ".join(f"{x:.3f}" for x in rng.uniform(1, 5, 3)) for u in utts}
    with FeatWriter(tmp_path / f"{name}_feats", meta={"num_layers": 1, "dim": 2}) as w:
        for u in utts:
            w(u, np.zeros((3, 2), dtype=np.float32))
    DataDir({"utt2spk": {u: "s" for u in utts}, "utt2emo": emo, "utt2vad": vad}).write(tmp_path / name)
    reader = FeatReader(tmp_path / f"{name}_feats.scp")
    return UttDataset(DataDir.load(tmp_path / name), CLASSES, feats={"x": reader}, vad_range=[1.0, 5.0])


def test_add_combined_is_the_mean_of_ua_and_ccc():
    assert add_combined({"ua": 0.6, "ccc_mean": 0.2})["ua_ccc"] == 0.4
    assert "ua_ccc" not in add_combined({"ua": 0.6})


def test_ua_ccc_selects_the_epoch_good_on_both(tmp_path):
    train_set, valid_set = split(tmp_path, "train", 8), split(tmp_path, "valid", 64)
    best = {}
    for metric in ("ua", "ua_ccc"):
        conf = TrainConfig(max_epochs=3, batch_size=64, lr=1e-3, patience=10, select_metric=metric)
        state = Trainer(Scripted(), conf, tmp_path / metric, num_classes=4).fit(train_set, valid_set)
        best[metric] = state["best_epoch"]
        hist = json.loads((tmp_path / metric / "history.json").read_text())
    assert best["ua"] == 1  # the tilt: CCC of the UA-best epoch is near 0
    assert hist[0]["valid"]["ccc_mean"] < 0.2 < hist[1]["valid"]["ccc_mean"]
    assert best["ua_ccc"] == 2
