"""Scoring's figures: valid PNGs with real content, per fold and per system, from ser.bin.score."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import assert_png

REPO = Path(__file__).resolve().parents[2]


def make_fold(root: Path, k: int, rng, vad: bool):
    classes = ["neu", "hap", "ang"]
    test = root / f"data/folds/s/fold{k}/test"
    pred = root / f"exp/sys/fold{k}/infer_test"
    test.mkdir(parents=True)
    pred.mkdir(parents=True)
    utts = [f"u{k}_{i:03d}" for i in range(60)]
    true = rng.integers(0, 3, len(utts))
    guess = np.where(rng.random(len(utts)) < 0.6, true, rng.integers(0, 3, len(utts)))
    (test / "utt2emo").write_text("".join(f"{u} {classes[t]}\n" for u, t in zip(utts, true)))
    (test / "utt2spk").write_text("".join(f"{u} s{k}\n" for u in utts))
    (pred / "utt2emo_pred").write_text("".join(f"{u} {classes[g]}\n" for u, g in zip(utts, guess)))
    (pred / "classes.txt").write_text("\n".join(classes) + "\n")
    if vad:
        t = rng.uniform(1, 5, (len(utts), 3))
        p = t + rng.normal(0, 0.7, t.shape)
        (test / "utt2vad").write_text("".join(f"{u} {' '.join(f'{x:.3f}' for x in r)}\n" for u, r in zip(utts, t)))
        (pred / "utt2vad_pred").write_text("".join(f"{u} {' '.join(f'{x:.3f}' for x in r)}\n" for u, r in zip(utts, p)))


def test_scoring_writes_figures(tmp_path):
    rng = np.random.default_rng(0)
    for k in (1, 2):
        make_fold(tmp_path, k, rng, vad=True)
    cmd = [sys.executable, "-m", "ser.bin.score", "--folds-root", "data/folds/s", "--folds", "1 2"]
    subprocess.run(cmd + ["--out", "exp/sys/RESULTS.md", "exp/sys"], cwd=tmp_path, check=True, capture_output=True,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})  # fmt: skip
    for d in (tmp_path / "exp/sys/fold1/infer_test/plots", tmp_path / "exp/sys/fold2/infer_test/plots"):
        assert sorted(p.name for p in d.iterdir()) == ["confusion.png", "recall.png", "vad.png"]
    system = tmp_path / "exp/sys/plots"
    for name in ("confusion.png", "recall.png", "vad.png"):
        assert_png(system / name)
    # The system's matrix is the folds' summed: both figures exist, and differ from a fold's.
    fold = json.loads((tmp_path / "exp/sys/fold1/infer_test/scores.json").read_text())
    assert sum(map(sum, fold["confusion"])) == 60
    assert (system / "confusion.png").read_bytes() != (
        tmp_path / "exp/sys/fold1/infer_test/plots/confusion.png"
    ).read_bytes()


def test_ccc_in_vad_title(tmp_path, monkeypatch):
    from ser.eval import plots

    titles = []
    real = plots._save

    def spy(fig, path):
        titles.extend(ax.get_title() for ax in fig.axes)
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    t = np.random.default_rng(1).uniform(1, 5, (50, 3))
    plots.vad_png(tmp_path / "v.png", t, t, "perfect")
    assert titles == ["valence: CCC 1.000", "arousal: CCC 1.000", "dominance: CCC 1.000"]
    assert_png(tmp_path / "v.png")
