"""ser.data.speed_perturb_dir (and its command line ser.bin.speed_perturb_dir): speed-perturbed copies of a data dir."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ser.data.datadir import DataDir
from ser.data.speed_perturb_dir import perturb, perturb_dir


def test_perturb_changes_duration_and_pitch():
    t = np.arange(16000) / 16000
    wav = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    fast = perturb(wav, 1.25)
    assert len(fast) == pytest.approx(16000 / 1.25, abs=2)
    peak = np.argmax(np.abs(np.fft.rfft(fast))) * 16000 / len(fast)
    assert peak == pytest.approx(250, abs=3)  # 200 Hz played 1.25x faster


@pytest.fixture
def data_dir(tmp_path):
    for u in ("a", "b"):
        sf.write(tmp_path / f"{u}.wav", np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    DataDir(
        {
            "wav.scp": {u: str(tmp_path / f"{u}.wav") for u in "ab"},
            "utt2spk": {"a": "S1", "b": "unk_b"},
            "utt2emo": {"a": "neu", "b": "ang"},
            "text": {"a": "hi", "b": "yo"},
            "utt2gender": {"a": "m", "b": "u"},
            "utt2dur": {"a": "1.0", "b": "1.0"},
        }
    ).write(tmp_path / "train")
    return tmp_path / "train"


def test_perturb_dir(data_dir, tmp_path):
    n = perturb_dir(data_dir, tmp_path / "train_sp", [0.9, 1.1], tmp_path / "wavs")
    assert n == 6
    dd = DataDir.load(tmp_path / "train_sp")
    assert dd.utt2spk == {
        "a": "S1",
        "b": "unk_b",
        "sp0.9-a": "sp0.9-S1",
        "sp0.9-b": "unk_sp0.9-b",
        "sp1.1-a": "sp1.1-S1",
        "sp1.1-b": "unk_sp1.1-b",
    }
    assert dd.get("utt2emo")["sp1.1-b"] == "ang" and dd.get("text")["sp0.9-a"] == "hi"
    assert float(dd.get("utt2dur")["sp0.9-a"]) == pytest.approx(1 / 0.9, abs=1e-3)
    assert sf.info(dd.get("wav.scp")["sp1.1-a"]).duration == pytest.approx(1 / 1.1, abs=1e-3)


def test_bad_factors_fail_clearly(data_dir, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser.bin.speed_perturb_dir",
            "--factors",
            "1.0",
            "--wav-dir",
            str(tmp_path / "w"),
            str(data_dir),
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "positive factors other than 1.0" in proc.stderr
