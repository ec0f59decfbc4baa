"""ser.bin.write_submission: a blind test set's audio files -> the challenge CSV (FileName,EmoClass)."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ser.data.datadir import DataDir
from ser.train.experiment import DEFAULTS, FeatStores, train

CLASSES = ["A", "H", "N", "S"]


def wavs(folder, names, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        sf.write(folder / n, (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    return [folder / n for n in names]


def split(tmp_path, name, n, seed):
    files = wavs(tmp_path / f"{name}_audio", [f"MSP-PODCAST_{seed:04d}_{i:04d}.wav" for i in range(n)], seed)
    utts = [p.stem for p in files]
    DataDir(
        {
            "wav.scp": {u: str(p) for u, p in zip(utts, files)},
            "utt2spk": {u: f"spk{i % 2}" for i, u in enumerate(utts)},
            "utt2emo": {u: CLASSES[i % 4] for i, u in enumerate(utts)},
            "utt2dur": {u: "0.5" for u in utts},
        }
    ).write(tmp_path / name)
    return tmp_path / name


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sub")
    conf = {
        "data": {**DEFAULTS["data"], "classes": CLASSES, "use_wav": True, "feats": []},
        "model": {"name": "joint_mtl", "encoders": ["wav"], "tasks": ["cls"], "dim": 8, "heads": 2},
        "train": {**DEFAULTS["train"], "max_epochs": 1, "batch_size": 4, "select_metric": "ua"},
    }
    model_conf = {"frontend_channels": 8, "self_attn_layers": 1, "coattn": False}
    conf["model"].update(model_conf)
    train(conf, split(tmp, "train", 8, 1), split(tmp, "valid", 4, 2), tmp / "exp", FeatStores())
    return tmp


def run(repo_root, *args):
    cmd = [sys.executable, "-m", "ser.bin.write_submission", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root)


def test_blind_set_to_challenge_csv(trained, tmp_path, repo_root):
    blind = tmp_path / "Test3"
    wavs(blind, [f"MSP-PODCAST_9{i:03d}_0001.wav" for i in range(5)], 3)
    (tmp_path / "list.txt").write_text("MSP-PODCAST_9003_0001.wav\nMSP-PODCAST_9000_0001.wav\n")
    out = tmp_path / "sub.csv"
    args = ["--exp-dir", str(trained / "exp"), "--audio-dir", str(blind), "--out", str(out)]
    proc = run(repo_root, *args, "--file-list", str(tmp_path / "list.txt"), "--work-dir", str(tmp_path / "w"))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["FileName", "EmoClass"]
    assert sorted(r[0] for r in rows[1:]) == ["MSP-PODCAST_9000_0001.wav", "MSP-PODCAST_9003_0001.wav"]
    assert all(r[1] in CLASSES for r in rows[1:])

    # Every file of the folder without a list; a listed file that is absent is an error naming it.
    proc = run(repo_root, *args, "--work-dir", str(tmp_path / "w2"))
    assert proc.returncode == 0, proc.stderr
    assert len(list(csv.reader(out.open()))) == 6
    (tmp_path / "bad.txt").write_text("MSP-PODCAST_nope.wav\n")
    proc = run(repo_root, *args, "--file-list", str(tmp_path / "bad.txt"), "--work-dir", str(tmp_path / "w3"))
    assert proc.returncode == 1 and "MSP-PODCAST_nope.wav" in proc.stderr
