"""ser.train.amp on the CPU (no GPU here): bf16 autocast trains the baseline, fp16 goes through a
GradScaler whose state the checkpoint keeps, and modes resolve per device."""

import json

import pytest
import torch
from test_trainer import toy_split

from ser.models import build_model
from ser.train.amp import Amp, resolve
from ser.train.trainer import TrainConfig, Trainer
from ser.utils import SerError


@pytest.fixture
def data(tmp_path):
    return toy_split(tmp_path, "train", 48, 0), toy_split(tmp_path, "valid", 16, 1)


def trainer(tmp_path, exp, **conf):
    info = {"num_classes": 4, "feats": {"ssl": {"num_layers": 2, "dim": 3}}}
    torch.manual_seed(0)
    model = build_model({"name": "baseline", "proj_dim": 8}, info)
    return Trainer(
        model, TrainConfig(max_epochs=6, batch_size=8, lr=5e-3, patience=50, seed=3, **conf), tmp_path / exp, 4
    )


def test_bf16_autocast_on_cpu_trains(tmp_path, data):
    t = trainer(tmp_path, "bf16", amp="bf16")
    seen = []
    hook = t.model.proj.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    state = t.fit(*data)
    hook.remove()
    assert torch.bfloat16 in seen  # the forward pass really ran in bfloat16
    assert state["best"] > 0.6  # chance is 0.25
    assert all(p.dtype == torch.float32 for p in t.model.parameters())  # master weights stay float32
    full = trainer(tmp_path, "fp32").fit(*data)
    assert full["history"][-1]["train"]["loss"] != state["history"][-1]["train"]["loss"]


def test_fp16_uses_a_grad_scaler_kept_in_the_checkpoint(tmp_path, data, caplog):
    t = trainer(tmp_path, "fp16", amp="fp16")
    with caplog.at_level("INFO"):
        t.fit(*data)
    assert t.amp.scaler is not None
    saved = torch.load(tmp_path / "fp16" / "checkpoint.last.pt", weights_only=False)["amp"]
    assert saved["scale"] == t.amp.scaler.get_scale()
    assert "fp16 precision" in caplog.text
    assert json.loads((tmp_path / "fp16" / "history.json").read_text())[-1]["valid"]["ua"] > 0.4


def test_modes_per_device():
    cpu = torch.device("cpu")
    assert resolve("auto", cpu) == "none"  # no mixed precision on the CPU unless asked for
    assert resolve("bf16", cpu) == "bf16"
    assert Amp("none", cpu).scaler is None and Amp("bf16", cpu).scaler is None
    with pytest.raises(SerError, match="train.amp 'half' unknown"):
        resolve("half", cpu)


def test_accumulation_logs_the_effective_batch_size(tmp_path, data, caplog):
    with caplog.at_level("INFO"):
        trainer(tmp_path, "acc", accum_grad=3, num_workers=1).fit(*data)
    assert "effective batch size 24 (batch_size 8 x accum_grad 3; 1 process(es)" in caplog.text
    assert "1 loader workers" in caplog.text
