"""ser.sh's option checks, made before any stage runs or any dir is created: non-numeric --stage /
--nj, --stop_stage before --stage, a bad --demo value. Before, `--stage abc` printed shell errors and
exited 0, `--stage 3 --stop_stage 1` did nothing silently and `--nj abc` made a file `JOB=1:abc`."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import link_template

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def recipe(tmp_path):
    link_template(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/train.yaml").write_text("model: {name: x}\n")
    return tmp_path


@pytest.mark.parametrize(
    "opts, message",
    [
        (["--stage", "abc"], "--stage 'abc' is not a number"),
        (["--stage", "1", "--nj", "abc"], "--nj 'abc' is not a number"),
        (["--stage", "3", "--stop_stage", "1"], "--stop_stage 1 is before --stage 3: nothing would run"),
        (["--demo", "maybe"], "--demo 'maybe': expected true, false or auto"),
        (["--stage", "2", "stray"], "unexpected argument 'stray'"),
    ],
)
def test_bad_options_fail_before_anything_runs(recipe, opts, message):
    proc = subprocess.run(
        ["bash", "ser.sh", "--systems", "conf/train.yaml", "--", *opts],
        cwd=recipe,
        env={**os.environ, "train_cmd": "false", "cuda_cmd": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert sorted(p.name for p in recipe.iterdir()) == ["conf", "scripts", "ser.sh", "utils"]
