"""NaN/inf audio is an error naming the file (ser.data.audio): a float wav with NaN used to give an
all-NaN feature matrix, NaN posteriors, a prediction of class 0 and a score, with exit code 0.
A non-finite training loss names the utterances of its batch (it named none)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from ser.features.store import FeatReader, FeatWriter
from tests.train.toy_fold import make_fold, run_train

REPO = Path(__file__).resolve().parents[2]


def test_nan_audio_is_named_by_the_dump(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for u in ("good", "bad"):
        wav = (0.1 * rng.standard_normal(8000)).astype(np.float32)
        if u == "bad":
            wav[4000] = np.nan
        sf.write(tmp_path / f"{u}.wav", wav, 16000, subtype="FLOAT")
    (data / "wav.scp").write_text(f"bad {tmp_path}/bad.wav\ngood {tmp_path}/good.wav\n")
    (data / "utt2spk").write_text("bad s\ngood s\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.dump_feats", "--data-dir", str(data), "--out", str(tmp_path / "dump"),
         "--kind", "fbank"],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"audio '{tmp_path}/bad.wav' (utterance bad) has 1 non-finite samples" in proc.stderr
    assert "0.250 s" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "dump/feats.1.scp").exists()  # no store with a NaN matrix


def test_a_non_finite_loss_names_the_batch(tmp_path):
    root = make_fold(tmp_path)
    reader = FeatReader(root / "feats.scp")
    feats = {u: reader[u].copy() for u in reader.keys()}
    feats["train_005"][:] = np.inf
    with FeatWriter(root / "feats") as w:
        for u, x in feats.items():
            w(u, x)
    proc = run_train(root, check=False)
    assert proc.returncode == 1 and "non-finite loss" in proc.stderr
    assert "train_005" in proc.stderr.split("non-finite loss")[1].splitlines()[0]


def test_non_finite_predictions_are_refused(tmp_path):
    root = make_fold(tmp_path)
    run_train(root)
    reader = FeatReader(root / "feats.scp")
    feats = {u: reader[u].copy() for u in reader.keys()}
    feats["test_003"][:] = np.nan  # e.g. a store dumped before audio was checked
    with FeatWriter(root / "feats") as w:
        for u, x in feats.items():
            w(u, x)
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.infer", "--exp-dir", str(root / "exp"), "--data-dir", str(root / "test"),
         "--out-dir", str(tmp_path / "pred"), "--feat", f"ssl={root / 'feats.scp'}", "--device", "cpu"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1 and "non-finite emo_logits for 1 utterances (test_003)" in proc.stderr
    assert not (tmp_path / "pred").exists()
