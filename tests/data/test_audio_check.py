"""Data prep reads every audio file before it stops (ser.data.audio_check): with three unreadable
files it used to stop at the first, so fixing them took three runs; now one run lists all three.
Clips shorter than the models' receptive fields are flagged (a 50 ms clip gave feature values of
9537 against about 7) and listed in data/local/short_clips.txt."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
ACTORS = ("01", "02", "04", "11", "13", "18")
FILES = (("01", "01", "01", "01"), ("03", "02", "02", "01"), ("05", "01", "01", "02"), ("08", "02", "02", "02"))
BROKEN = ("Actor_01/03-01-03-02-02-01-01.wav", "Actor_04/03-01-05-01-01-02-04.wav", "Actor_13/03-01-08-02-02-02-13.wav")
SHORT = "Actor_02/03-01-01-01-01-01-02.wav"


def make_corpus(root: Path) -> None:
    for a in ACTORS:
        for e, i, s, r in FILES:
            path = root / f"Actor_{a}" / f"03-01-{e}-{i}-{s}-{r}-{a}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            seconds = 0.05 if path.relative_to(root).as_posix() == SHORT else 0.5
            sf.write(path, 0.1 * np.sin(np.arange(int(seconds * 16000)) / 5), 16000, subtype="PCM_16")
    for name in BROKEN:
        (root / name).write_bytes(b"RIFF....WAVEfmt truncated")


def prepare(corpus: Path, out: Path):
    return subprocess.run(
        [sys.executable, str(REPO / "egs/ravdess/local/prepare_ravdess.py"), "--corpus", str(corpus),
         "--out", str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_every_bad_file_is_listed_in_one_run_and_short_clips_are_flagged(tmp_path):
    corpus = tmp_path / "ravdess"
    make_corpus(corpus)
    proc = prepare(corpus, tmp_path / "data")
    assert proc.returncode == 1
    assert "3 audio files are missing or unreadable" in proc.stderr
    for name in BROKEN:
        assert str(corpus / name) in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "data/all").exists()

    for name in BROKEN:  # fixed
        sf.write(corpus / name, 0.1 * np.sin(np.arange(8000) / 5), 16000, subtype="PCM_16")
    proc = prepare(corpus, tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert "1 clips are shorter than 0.25 s" in proc.stderr and "(0.050 s)" in proc.stderr
    listed = (tmp_path / "data/local/short_clips.txt").read_text()
    assert listed.startswith("Actor_02_03-01-01-01-01-01-02\t") and str(corpus / SHORT) in listed
