import json

import numpy as np
import pytest
import torch

from ser.data.datadir import DataDir
from ser.data.dataset import UttDataset
from ser.features.store import FeatReader, FeatWriter
from ser.models import build_model
from ser.train.trainer import TrainConfig, Trainer
from ser.utils import SerError

CLASSES = ["neu", "hap", "ang", "sad"]


def toy_split(tmp_path, name, n, seed):
    """Features whose mean encodes the class, so a working trainer learns them quickly."""
    rng = np.random.default_rng(seed)
    utts = [f"{name}_{i:03d}" for i in range(n)]
    emo = {u: CLASSES[i % 4] for i, u in enumerate(utts)}
    with FeatWriter(tmp_path / f"{name}_feats", meta={"num_layers": 2, "dim": 3}) as w:
        for u in utts:
            c = CLASSES.index(emo[u])
            x = rng.standard_normal((int(rng.integers(5, 15)), 6)).astype(np.float32)
            x[:, c] += 2.0
            w(u, x)
    dd = DataDir({"utt2spk": {u: f"{name}{i % 3}" for i, u in enumerate(utts)}, "utt2emo": emo})
    dd.write(tmp_path / name)
    reader = FeatReader(tmp_path / f"{name}_feats.scp")
    return UttDataset(DataDir.load(tmp_path / name), CLASSES, feats={"ssl": reader})


def make_trainer(tmp_path, exp, epochs=4):
    info = {"num_classes": 4, "feats": {"ssl": {"num_layers": 2, "dim": 3}}}
    torch.manual_seed(0)
    model = build_model({"name": "baseline", "proj_dim": 8, "dropout": 0.2}, info)
    conf = TrainConfig(max_epochs=epochs, batch_size=8, lr=5e-3, patience=50, seed=3)
    return Trainer(model, conf, tmp_path / exp, num_classes=4)


@pytest.fixture
def data(tmp_path):
    return toy_split(tmp_path, "train", 48, 0), toy_split(tmp_path, "valid", 16, 1)


def test_learns_toy_task(tmp_path, data):
    state = make_trainer(tmp_path, "a", epochs=6).fit(*data)
    assert state["best"] > 0.6  # chance is 0.25
    hist = json.loads((tmp_path / "a" / "history.json").read_text())
    assert len(hist) == 6 and "layer_weights" in hist[0]


def test_resume_after_kill_equals_uninterrupted(tmp_path, data, monkeypatch):
    ref = make_trainer(tmp_path, "ref")
    ref.fit(*data)

    killed = make_trainer(tmp_path, "killed")
    original = Trainer._train_epoch

    def dies_in_epoch_3(self, model, optim, sched, loader, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return original(self, model, optim, sched, loader, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", dies_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(*data)
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    resumed = make_trainer(tmp_path, "killed")  # a fresh process: new model, same exp dir
    state = resumed.fit(*data)
    assert state["epoch"] == 4
    for (k, a), (_, b) in zip(ref.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    # A finished run is not retrained.
    again = make_trainer(tmp_path, "killed").fit(*data)
    assert again["history"] == state["history"]


def test_unknown_keys_are_errors():
    with pytest.raises(SerError, match="unknown config keys"):
        TrainConfig.from_dict({"lr": 1e-3, "lrr": 1})
    with pytest.raises(SerError, match=r"model 'baseline': unknown config keys \['hidden'\]"):
        build_model(
            {"name": "baseline", "hidden": 3}, {"num_classes": 2, "feats": {"ssl": {"num_layers": 1, "dim": 2}}}
        )


def test_select_last_keeps_the_final_epoch(tmp_path, data):
    trainer = make_trainer(tmp_path, "last", epochs=3)
    trainer.conf.select_metric = "last"
    state = trainer.fit(*data)
    assert state["best_epoch"] == 3
    ckpt = torch.load(tmp_path / "last" / "checkpoint.last.pt", weights_only=False)
    best = torch.load(tmp_path / "last" / "model.best.pt", weights_only=True)
    assert all(torch.equal(best[k], v) for k, v in ckpt["model"].items())
