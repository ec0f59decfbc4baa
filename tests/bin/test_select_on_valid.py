"""ser.bin.select_on_valid: per fold the candidate best on validation gives its test predictions,
never the one best on test."""

import json
import subprocess
import sys

import yaml

# Per lambda and fold: (best validation ua_ccc over epochs, test "score" written in its predictions).
CANDIDATES = {
    "lam0.3": {1: ([0.40, 0.55], "test-best"), 2: ([0.30, 0.35], "test-best")},
    "lam0.7": {1: ([0.50, 0.45], "x"), 2: ([0.60, 0.20], "x")},
}


def make(tmp_path, metric="ua_ccc"):
    for name, folds in CANDIDATES.items():
        for k, (valid, tag) in folds.items():
            fold = tmp_path / name / f"fold{k}"
            (fold / "infer_test").mkdir(parents=True)
            (fold / "config.yaml").write_text(yaml.safe_dump({"train": {"select_metric": metric}}))
            hist = [{"epoch": e + 1, "valid": {metric: v}} for e, v in enumerate(valid)]
            (fold / "history.json").write_text(json.dumps(hist))
            (fold / "infer_test" / "utt2emo_pred").write_text(f"u1 {name}-{tag}\n")


def run(repo_root, tmp_path, *extra):
    cmd = [sys.executable, "-m", "ser.bin.select_on_valid", "--folds", "1 2", "--out", str(tmp_path / "sel")]
    cmd += [f"{n}={tmp_path / n}" for n in CANDIDATES] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root)


def test_each_fold_takes_the_validation_best(tmp_path, repo_root):
    make(tmp_path)
    proc = run(repo_root, tmp_path)
    assert proc.returncode == 0, proc.stderr
    # fold1: lam0.3 (0.55 > 0.50); fold2: lam0.7 (0.60 > 0.35), though lam0.3 is the one best on test.
    assert (tmp_path / "sel/fold1/infer_test/utt2emo_pred").read_text() == "u1 lam0.3-test-best\n"
    assert (tmp_path / "sel/fold2/infer_test/utt2emo_pred").read_text() == "u1 lam0.7-x\n"
    record = json.loads((tmp_path / "sel/fold2/selected.json").read_text())
    assert record["selected"] == "lam0.7" and record["valid"] == {"lam0.3": 0.35, "lam0.7": 0.6}
    assert record["metric"] == "ua_ccc"


def test_errors_name_the_missing_fold_and_mixed_metrics(tmp_path, repo_root):
    make(tmp_path)
    hist = tmp_path / "lam0.7/fold2/history.json"
    saved = hist.read_text()
    hist.unlink()
    proc = run(repo_root, tmp_path)
    assert proc.returncode == 1 and "lam0.7/fold2/history.json not found" in proc.stderr
    hist.write_text(saved)
    cfg = tmp_path / "lam0.3/fold1/config.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"select_metric": "ua"}}))
    (tmp_path / "lam0.3/fold1/history.json").write_text(json.dumps([{"epoch": 1, "valid": {"ua": 0.5}}]))
    proc = run(repo_root, tmp_path)
    assert proc.returncode == 1 and "different metrics" in proc.stderr
