"""The baseline recipe end to end on the built-in corpus: the loop every recipe relies on."""

import json
import re

from conftest import copy_recipe, link_synthetic_iemocap, run_recipe


def test_baseline_end_to_end(repo_root, synthetic_iemocap, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/baseline", tmp_path / "baseline")
    link_synthetic_iemocap(recipe, synthetic_iemocap)
    proc = run_recipe(recipe, "--nj", "2")
    assert "demo mode" in proc.stderr and "SYNTHETIC" in proc.stderr

    exp = recipe / "exp" / "baseline_fbank_no_cmvn"
    results = (exp / "RESULTS.md").read_text()
    assert "SYNTHETIC" in results and "run.sh" in results
    folds = sorted(p.name for p in exp.glob("fold*"))
    assert folds == ["fold1", "fold2", "fold3", "fold4", "fold5"]
    uas = [json.loads((exp / f / "infer_test" / "scores.json").read_text())["ua"] for f in folds]
    # The synthetic corpus has real emotion cues: a working pipeline is far above chance (0.25).
    assert sum(uas) / len(uas) > 0.38, uas
    mean_row = re.search(r"\| baseline_fbank_no_cmvn \| 5 \| ([\d.]+) \|", results)
    assert mean_row and abs(float(mean_row.group(1)) - 100 * sum(uas) / len(uas)) < 0.01

    # Re-running training finds every fold finished and changes nothing.
    before = (exp / "fold1" / "model.best.pt").stat().st_mtime_ns
    again = run_recipe(recipe, "--stage", "2", "--stop_stage", "2", "--folds", "1")
    assert (exp / "fold1" / "model.best.pt").stat().st_mtime_ns == before
    assert "is trained for its current inputs; skipping" in again.stdout
    # The experiment dir holds the exact command that made it, runnable again.
    assert "run.sh --stage 2 --stop_stage 2 --folds 1" in (exp / "run.sh").read_text()


def test_real_corpus_path_errors_clearly(repo_root, tmp_path):
    recipe = copy_recipe(repo_root, "egs/iemocap/baseline", tmp_path / "baseline")
    try:
        run_recipe(recipe, "--stop_stage", "0", env={"IEMOCAP": str(tmp_path / "missing")})
    except AssertionError as e:
        assert "missing" in str(e) and "IEMOCAP" in str(e)
    else:
        raise AssertionError("a wrong IEMOCAP path must fail stage 0")
