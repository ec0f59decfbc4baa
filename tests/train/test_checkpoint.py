"""Checkpoints load with torch.load(weights_only=True) (ser.train.checkpoint): a pickle planted as
checkpoint.last.pt used to run on resume. A truncated checkpoint.last.pt used to give a raw reader
traceback; now the file is named and training resumes from checkpoint.prev.pt. A truncated
model.best.pt is named too."""

import json
import os
import pickle
import subprocess
import sys

import torch

from tests.train.toy_fold import REPO, make_fold, run_train


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_are_plain_weights_and_a_planted_pickle_never_runs(tmp_path):
    root = make_fold(tmp_path)
    run_train(root)
    exp = root / "exp"
    ckpt = torch.load(exp / "checkpoint.last.pt", weights_only=True)  # optimiser, RNG states included
    assert ckpt["state"]["done"] and set(ckpt["rng"]) == {"torch", "numpy", "python"}
    assert torch.load(exp / "checkpoint.prev.pt", weights_only=True)["state"]["epoch"] == 1

    marker = tmp_path / "pwned"
    (exp / "checkpoint.prev.pt").unlink()
    with open(exp / "checkpoint.last.pt", "wb") as f:
        pickle.dump({"state": Planted(marker)}, f)
    proc = run_train(root, check=False)
    assert not marker.exists()
    assert proc.returncode == 1 and f"{exp / 'checkpoint.last.pt'} is unreadable" in proc.stderr
    assert "--no-resume" in proc.stderr and "Traceback" not in proc.stderr


def test_a_truncated_checkpoint_resumes_from_the_previous_one(tmp_path):
    root = make_fold(tmp_path)
    run_train(root)
    exp = root / "exp"
    history = json.loads((exp / "history.json").read_text())
    data = (exp / "checkpoint.last.pt").read_bytes()
    (exp / "checkpoint.last.pt").write_bytes(data[: len(data) // 2])
    proc = run_train(root)
    assert f"{exp / 'checkpoint.last.pt'} is unreadable" in proc.stderr
    assert "resuming from the previous checkpoint" in proc.stderr and "from epoch 1" in proc.stderr
    assert json.loads((exp / "history.json").read_text()) == history  # epoch 2 redone exactly

    best = (exp / "model.best.pt").read_bytes()
    (exp / "model.best.pt").write_bytes(best[:100])
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.infer", "--exp-dir", str(exp), "--data-dir", str(root / "test"),
         "--out-dir", str(tmp_path / "pred"), "--feat", f"ssl={root / 'feats.scp'}", "--device", "cpu"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1 and f"model {exp / 'model.best.pt'} is unreadable" in proc.stderr
    assert "Traceback" not in proc.stderr
