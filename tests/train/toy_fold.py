"""A toy fold for subprocess runs of ser.bin.train / ser.bin.infer: features whose mean encodes the
class, train/valid/test data dirs and a small baseline config."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from ser.data.datadir import DataDir
from ser.features.store import FeatWriter

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["neu", "hap", "ang", "sad"]
CONFIG = """data:
  classes: [neu, hap, ang, sad]
  feats: [ssl]
model:
  name: baseline
  proj_dim: 8
train:
  max_epochs: 2
  batch_size: 8
  lr: 5.0e-3
  patience: 5
  seed: 0
  device: cpu
"""


def make_fold(root: Path) -> Path:
    rng = np.random.default_rng(0)
    with FeatWriter(root / "feats", meta={"num_layers": 2, "dim": 3}) as w:
        for split, n in (("train", 24), ("valid", 8), ("test", 8)):
            utts = [f"{split}_{i:03d}" for i in range(n)]
            emo = {u: CLASSES[i % 4] for i, u in enumerate(utts)}
            for u in utts:
                x = rng.standard_normal((int(rng.integers(5, 12)), 6)).astype(np.float32)
                x[:, CLASSES.index(emo[u])] += 2.0
                w(u, x)
            DataDir({"utt2spk": {u: f"{split}{i % 3}" for i, u in enumerate(utts)}, "utt2emo": emo}).write(root / split)
    (root / "train.yaml").write_text(CONFIG)
    return root


def run_train(root: Path, *extra, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.train", "--config", str(root / "train.yaml"),
         "--train-dir", str(root / "train"), "--valid-dir", str(root / "valid"), "--exp-dir", str(root / "exp"),
         "--feat", f"ssl={root / 'feats.scp'}", *extra],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
