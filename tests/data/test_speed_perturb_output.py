"""ser.bin.speed_perturb_dir never removes a directory it did not create: `... small_dir data`
used to delete data/all, data/folds and a notes file. Its own outputs are still replaced on re-runs."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from ser.data.datadir import DataDir

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path, src, dst):
    return subprocess.run(
        [sys.executable, "-m", "ser.bin.speed_perturb_dir", "--factors", "1.1", "--wav-dir", str(tmp_path / "sp"),
         str(src), str(dst)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_dir_it_did_not_make_is_never_removed(tmp_path):
    sf.write(tmp_path / "a.wav", (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 16000)
    DataDir({"wav.scp": {"a": str(tmp_path / "a.wav")}, "utt2spk": {"a": "s"}}).write(tmp_path / "small_dir")
    data = tmp_path / "data"
    for sub in ("all", "folds/session/fold1"):
        (data / sub).mkdir(parents=True)
        (data / sub / "utt2spk").write_text("x s\n")
    (data / "notes.txt").write_text("mine\n")

    proc = run(tmp_path, tmp_path / "small_dir", data)
    assert proc.returncode == 1
    assert f"output {data} exists and was not made by speed perturbation" in proc.stderr
    assert (data / "notes.txt").read_text() == "mine\n" and (data / "all/utt2spk").is_file()
    assert (data / "folds/session/fold1/utt2spk").is_file()

    out = tmp_path / "small_sp"
    assert run(tmp_path, tmp_path / "small_dir", out).returncode == 0
    assert run(tmp_path, tmp_path / "small_dir", out).returncode == 0  # its own output: replaced
    assert sorted(DataDir.load(out).utt2spk) == ["a", "sp1.1-a"]
