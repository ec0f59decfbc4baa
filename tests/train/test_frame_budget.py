"""Validation and inference batches keep the training frame budget (whole turns of a fine-tuned
model in one batch can exhaust a GPU)."""

import numpy as np
import torch
import yaml

import ser.train.trainer as trainer_mod
from ser.data.datadir import DataDir
from ser.data.dataset import UttDataset
from ser.features.store import FeatReader, FeatWriter
from ser.models import build_model
from ser.train.experiment import FeatStores, infer
from ser.train.trainer import TrainConfig, Trainer

CLASSES = ["neu", "hap", "ang", "sad"]
BUDGET = 60


def split(tmp_path, name, n):
    rng = np.random.default_rng(len(name))
    utts = [f"{name}_{i:03d}" for i in range(n)]
    with FeatWriter(tmp_path / f"{name}_feats", meta={"num_layers": 2, "dim": 3}) as w:
        for u in utts:
            w(u, rng.standard_normal((int(rng.integers(20, 30)), 6)).astype(np.float32))
    emo = {u: CLASSES[i % 4] for i, u in enumerate(utts)}
    DataDir({"utt2spk": {u: f"{name}{i % 2}" for i, u in enumerate(utts)}, "utt2emo": emo}).write(tmp_path / name)
    return UttDataset(DataDir.load(tmp_path / name), CLASSES, feats={"ssl": FeatReader(tmp_path / f"{name}_feats.scp")})


def record_batches(monkeypatch):
    """Every batch run_predict sees: (desc, frames of its padded batch)."""
    seen = []
    original = trainer_mod.run_predict

    def spy(model, loader, device, desc="predict"):
        lengths = loader.dataset.lengths()
        seen.extend((desc, len(b) * max(lengths[i] for i in b)) for b in loader.batch_sampler)
        return original(model, loader, device, desc)

    monkeypatch.setattr(trainer_mod, "run_predict", spy)
    monkeypatch.setattr("ser.train.experiment.run_predict", spy)
    return seen


def test_valid_and_infer_batches_keep_the_training_frame_budget(tmp_path, monkeypatch):
    train_set, valid_set = split(tmp_path, "train", 24), split(tmp_path, "valid", 16)
    seen = record_batches(monkeypatch)
    info = {"num_classes": 4, "feats": {"ssl": {"num_layers": 2, "dim": 3}}}
    torch.manual_seed(0)
    model = build_model({"name": "baseline", "proj_dim": 8}, info)
    conf = TrainConfig(max_epochs=1, batch_size=16, max_frames_per_batch=BUDGET, seed=0)
    Trainer(model, conf, tmp_path / "exp", num_classes=4).fit(train_set, valid_set)
    valid = [f for d, f in seen if d == "valid"]
    # Without the budget the 16 validation utterances are one batch of over 300 frames.
    assert valid and max(valid) <= BUDGET

    exp = tmp_path / "exp"
    run_conf = {
        "data": {
            "classes": CLASSES,
            "vad_range": [1.0, 5.0],
            "use_wav": False,
            "feats": ["ssl"],
            "max_wav_seconds": None,
        },
        "model": {"name": "baseline", "proj_dim": 8},
        "train": vars(conf),
    }
    (exp / "config.yaml").write_text(yaml.safe_dump(run_conf))
    (exp / "info.json").write_text(
        '{"num_classes": 4, "classes": ["neu", "hap", "ang", "sad"], "feats": {"ssl": {"num_layers": 2, "dim": 3}}}'
    )
    infer(exp, tmp_path / "valid", tmp_path / "out", FeatStores([f"ssl={tmp_path}/valid_feats.scp"]), "cpu")
    inferred = [f for d, f in seen if d == "infer"]
    assert inferred and max(inferred) <= BUDGET
    assert len((tmp_path / "out" / "utt2emo_pred").read_text().splitlines()) == 16
