"""ser.bin.score reports exactly which folds it scores: every missing fold is listed, and a summary
over a subset of the scheme's folds needs --allow-partial (score_folds.sh gives it for an explicit
--folds); RESULTS.md states the folds. Before, fold 1's numbers went out as a 5-fold RESULTS.md.
--classes that do not match the data or predictions are a clear error, not `KeyError: 'ang'`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path):
    for k in (1, 2, 3):
        d = tmp_path / f"data/folds/s/fold{k}/test"
        d.mkdir(parents=True)
        (d / "utt2emo").write_text("a neu\nb ang\n")
        (d / "utt2spk").write_text("a s\nb s\n")
    pred = tmp_path / "exp/sys/fold1/infer_test"
    pred.mkdir(parents=True)
    (pred / "utt2emo_pred").write_text("a neu\nb ang\n")
    (pred / "classes.txt").write_text("neu\nang\n")
    return tmp_path


def score(tree, *opts, folds="1 2 3"):
    return subprocess.run(
        [sys.executable, "-m", "ser.bin.score", "--folds-root", "data/folds/s", "--folds", folds,
         "--out", "RESULTS.md", *opts, "exp/sys"],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_missing_folds_are_listed_and_a_subset_needs_asking(tree):
    proc = score(tree)
    assert proc.returncode == 1
    assert "has predictions of folds 1, not of 2 3" in proc.stderr and not (tree / "RESULTS.md").exists()

    proc = score(tree, folds="1")
    assert proc.returncode == 1 and "would leave out folds 2 3" in proc.stderr and "--allow-partial" in proc.stderr
    assert not (tree / "RESULTS.md").exists()

    proc = score(tree, "--allow-partial", folds="1")
    assert proc.returncode == 0, proc.stderr
    assert "Scored folds: 1 (1 of the 3 folds of s)." in (tree / "RESULTS.md").read_text()


def test_score_folds_sh_asks_for_a_subset_only_with_explicit_folds(tree):
    (tree / "utils").symlink_to(REPO / "tools/utils")
    (tree / "scripts").symlink_to(REPO / "egs/TEMPLATE/ser1/scripts")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}

    def run(*opts):
        return subprocess.run(
            ["bash", "scripts/score_folds.sh", "--scheme", "s", *opts, "exp/sys"],
            cwd=tree, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    proc = run()  # every fold of the scheme
    assert proc.returncode == 1 and "not of 2 3" in proc.stderr
    proc = run("--folds", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Scored folds: 1 (1 of the 3 folds of s)." in (tree / "exp/sys/RESULTS.md").read_text()


def test_classes_that_do_not_match_are_named(tree):
    proc = score(tree, "--allow-partial", "--classes", "neu,hap", folds="1")
    assert proc.returncode == 1 and "classes neu,ang differ from the scored ones neu,hap" in proc.stderr
    assert "KeyError" not in proc.stderr
    (tree / "exp/sys/fold1/infer_test/classes.txt").unlink()
    proc = score(tree, "--allow-partial", "--classes", "neu,hap", folds="1")
    assert proc.returncode == 1 and "labels ['ang'] are not among the classes ['neu', 'hap']" in proc.stderr
