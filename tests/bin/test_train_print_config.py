"""ser.bin.train --print_config (or --print-config): the config after defaults, overlays and --set."""

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_print_config(tmp_path):
    (tmp_path / "train.yaml").write_text("model: {name: baseline, proj_dim: 64}\ntrain: {lr: 0.01}\n")
    (tmp_path / "small.yaml").write_text("model: {proj_dim: 8}\n")
    for flag in ("--print_config", "--print-config"):
        proc = subprocess.run(
            [sys.executable, "-m", "ser.bin.train", "--config", "train.yaml", "--overlay", "small.yaml"]
            + ["--set", "train.max_epochs=3", flag],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        conf = yaml.safe_load(proc.stdout)
        assert conf["model"] == {"name": "baseline", "proj_dim": 8}  # the overlay
        assert conf["train"]["lr"] == 0.01 and conf["train"]["max_epochs"] == 3  # file, then --set
        assert conf["data"]["classes"] == ["neu", "hap", "ang", "sad"] and "batch_size" in conf["train"]  # defaults
