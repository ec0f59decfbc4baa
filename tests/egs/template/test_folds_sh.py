"""egs/TEMPLATE/ser1/scripts/folds.sh: fold ids and `for_each_fold`, which every *_folds.sh script
uses to train folds one or N at a time; a failing fold must fail the script in both modes."""

import subprocess
from pathlib import Path

import pytest

FOLDS_SH = Path(__file__).resolve().parents[3] / "egs" / "TEMPLATE" / "ser1" / "scripts" / "folds.sh"


def run(tmp_path, parallel, body, folds="1 2 3"):
    for k in folds.split():  # asked folds must exist
        (tmp_path / "data/folds/x" / f"fold{k}").mkdir(parents=True, exist_ok=True)
    script = f"""set -euo pipefail
folds="{folds}"; scheme=x
. {FOLDS_SH}
one() {{ {body}; }}
for_each_fold {parallel} one
echo finished
"""
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("parallel", [1, 2])
def test_every_fold_runs(tmp_path, parallel):
    p = run(tmp_path, parallel, 'touch "done$1"')
    assert p.returncode == 0 and "finished" in p.stdout, p.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["data", "done1", "done2", "done3"]


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_failing_step_stops_its_fold_and_fails_the_script(tmp_path, parallel):
    # the step after the failing one must not run (it would mark a fold as trained)
    p = run(tmp_path, parallel, '[ "$1" != 2 ] || false; touch "done$1"')
    assert p.returncode != 0 and "finished" not in p.stdout
    assert not (tmp_path / "done2").exists() and (tmp_path / "done1").exists()
    if parallel > 1:  # the other folds still finish
        assert (tmp_path / "done3").exists() and "at least one fold failed" in p.stderr


def test_folds_come_from_the_scheme_dir(tmp_path):
    for k in (3, 1, 10):
        (tmp_path / "data/folds/x" / f"fold{k}").mkdir(parents=True)
    p = run(tmp_path, 1, 'echo "fold $1"', folds="")
    assert p.stdout.split("\n")[:3] == ["fold 1", "fold 3", "fold 10"], p.stderr
