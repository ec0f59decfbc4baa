"""ser-infer's command line: the setup.py console entry point resolves to it, and bad options fail
with a message naming them."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "ser.bin.predict", *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def test_console_entry_point():
    spec = re.search(r'"ser-infer = ([\w.]+):(\w+)"', (REPO / "setup.py").read_text())
    assert spec, "setup.py declares no ser-infer console script"
    target = getattr(importlib.import_module(spec.group(1)), spec.group(2))
    assert callable(target)
    proc = run("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: ser-infer")


def test_bad_options(tmp_path):
    proc = run("model.zip", "a.wav", "--window", "-1")
    assert proc.returncode == 2 and "--window and --hop must be >= 0" in proc.stderr
    proc = run(str(tmp_path / "model.zip"), "a.wav", "--upstream-path", "whisper_base")
    assert proc.returncode == 1 and "must look like NAME=PATH" in proc.stderr
    proc = run(str(tmp_path / "model.zip"), "a.wav")
    assert proc.returncode == 1 and "model.zip not found" in proc.stderr and "ser.bin.pack" in proc.stderr
