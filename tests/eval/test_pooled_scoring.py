"""ser.bin.score: a pooled row (all folds' predictions together) beside the mean over folds, and
UA / macro-F1 over the configured classes when a fold lacks one."""

import subprocess
import sys

import numpy as np
import pytest

from ser.data.datadir import DataDir
from ser.eval.metrics import classification_scores, regression_scores
from ser.eval.posteriors import write_posteriors

CLASSES = ["neu", "hap", "ang"]
# fold1 has no "ang" reference; fold2 has every class.
FOLDS = {
    1: (["neu", "neu", "hap", "hap"], ["neu", "hap", "hap", "hap"]),
    2: (["neu", "hap", "ang", "ang", "ang", "neu"], ["neu", "hap", "ang", "neu", "ang", "ang"]),
}


def make_system(tmp_path):
    rng = np.random.default_rng(0)
    vads = {}
    for k, (ref, hyp) in FOLDS.items():
        utts = [f"f{k}_{i}" for i in range(len(ref))]
        vad_t = rng.uniform(1, 5, (len(ref), 3))
        vad_p = vad_t + rng.normal(0, 1.0, vad_t.shape)
        vads[k] = (vad_p, vad_t)
        DataDir(
            {
                "utt2spk": {u: f"s{k}" for u in utts},
                "utt2emo": dict(zip(utts, ref)),
                "utt2vad": {u: " ".join(f"{x:.4f}" for x in v) for u, v in zip(utts, vad_t)},
            }
        ).write(tmp_path / f"folds/fold{k}/test")
        pred = tmp_path / f"exp/fold{k}/infer_test"
        post = np.array([[0.8 if c == h else 0.1 for c in CLASSES] for h in hyp])
        write_posteriors(pred, utts, post, CLASSES)
        (pred / "utt2vad_pred").write_text(
            "".join(f"{u} {' '.join(f'{x:.4f}' for x in v)}\n" for u, v in zip(utts, vad_p))
        )
    return vads


def test_pooled_row_and_configured_class_set(tmp_path, repo_root):
    vads = make_system(tmp_path)
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.score", "--folds-root", str(tmp_path / "folds"), "--folds", "1 2"]
        + ["--out", str(out), "--classes", ",".join(CLASSES), f"sys={tmp_path / 'exp'}"],
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no reference utterance of ['ang']" in proc.stderr
    text = out.read_text()
    idx = {c: i for i, c in enumerate(CLASSES)}
    ref = [idx[c] for k in FOLDS for c in FOLDS[k][0]]
    hyp = [idx[c] for k in FOLDS for c in FOLDS[k][1]]
    pooled = classification_scores(ref, hyp, 3)
    reg = regression_scores(np.concatenate([vads[k][0] for k in FOLDS]), np.concatenate([vads[k][1] for k in FOLDS]))
    row = next(line for line in text.splitlines() if line.startswith("| pooled |"))
    cells = row.split("|")[2:-1]
    assert float(cells[0]) == pytest.approx(100 * pooled["ua"], abs=0.006)
    assert float(cells[2]) == pytest.approx(100 * pooled["macro_f1"], abs=0.006)
    assert float(cells[-1]) == pytest.approx(reg["ccc_mean"], abs=6e-5)
    assert "## Summary (pooled" in text
    # fold1 lacks "ang": UA counts it as 0, like macro-F1 (before: UA averaged the 2 present classes, 75.00).
    fold1 = next(line for line in text.splitlines() if line.startswith("| fold1 |")).split("|")[2:-1]
    assert float(fold1[0]) == pytest.approx(100 * (1 / 2 + 1) / 3, abs=0.006)


def test_extra_set_is_scored_beside_the_test_set(tmp_path, repo_root):
    import shutil

    make_system(tmp_path)
    for k in FOLDS:  # a "valid" set: fold k's test set again, predicted with the classes rotated
        shutil.copytree(tmp_path / f"folds/fold{k}/test", tmp_path / f"folds/fold{k}/valid")
        pred = tmp_path / f"exp/fold{k}/infer_valid"
        ref, _ = FOLDS[k]
        utts = [f"f{k}_{i}" for i in range(len(ref))]
        write_posteriors(pred, utts, np.array([[1.0 if c == r else 0.0 for c in CLASSES] for r in ref]), CLASSES)
    out = tmp_path / "RESULTS.md"
    cmd = [sys.executable, "-m", "ser.bin.score", "--folds-root", str(tmp_path / "folds"), "--folds", "1 2"]
    cmd += ["--out", str(out), "--extra-set", "valid", f"sys={tmp_path / 'exp'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    section = text[text.index("## The valid set (pooled)") :]
    assert "| sys | 2 | 100.00 | 100.00 | 100.00 |" in section  # perfect on valid, the test rows unchanged
    assert (tmp_path / "exp/fold1/infer_valid/scores.json").is_file()
