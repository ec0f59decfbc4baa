"""Tests for tools/utils/parse_options.sh, sourced from a small driver script."""

import subprocess
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[2] / "tools" / "utils"

DRIVER = """\
set -euo pipefail
stage=0
stop_stage=100
use_gpu=true
tag="a b"
help_message="Usage: driver.sh [options] <dir>\\n  --stage N   first stage"
. {parse_options}
printf 'stage=%s\\nstop_stage=%s\\nuse_gpu=%s\\ntag=%s\\nnargs=%s\\n' \\
  "$stage" "$stop_stage" "$use_gpu" "$tag" "$#"
for a in "$@"; do printf 'arg=%s\\n' "$a"; done
"""


@pytest.fixture
def driver(tmp_path):
    script = tmp_path / "driver.sh"
    script.write_text(DRIVER.format(parse_options=UTILS / "parse_options.sh"))

    def run(*args):
        return subprocess.run(["bash", str(script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=10)

    return run


def values(proc):
    assert proc.returncode == 0, proc.stderr
    out = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return {k: v if k == "arg" else v[0] for k, v in out.items()}


def test_defaults_untouched(driver):
    v = values(driver())
    assert v == {"stage": "0", "stop_stage": "100", "use_gpu": "true", "tag": "a b", "nargs": "0"}


@pytest.mark.parametrize("option", ["--stop-stage", "--stop_stage"])
def test_dash_and_underscore_set_same_variable(driver, option):
    assert values(driver(option, "3"))["stop_stage"] == "3"


def test_equals_form_and_values_with_spaces(driver):
    v = values(driver("--stage=2", "--tag", "x  y", "--stop-stage=a=b"))
    assert (v["stage"], v["tag"], v["stop_stage"]) == ("2", "x  y", "a=b")


def test_positional_args_remain(driver):
    v = values(driver("--stage", "1", "data/train", "--stage", "9", "last arg"))
    assert v["stage"] == "1"
    assert v["nargs"] == "4"
    assert v["arg"] == ["data/train", "--stage", "9", "last arg"]


def test_double_dash_ends_options(driver):
    v = values(driver("--stage", "4", "--", "--stop-stage", "1"))
    assert v["stage"] == "4" and v["stop_stage"] == "100"
    assert v["arg"] == ["--stop-stage", "1"]


def test_unknown_option_fails(driver):
    p = driver("--stage", "1", "--foo", "2")
    assert p.returncode == 1
    assert "parse_options.sh: unknown option --foo" in p.stderr
    assert p.stdout == ""


def test_missing_value_fails(driver):
    p = driver("--stage")
    assert p.returncode == 1 and "--stage requires a value" in p.stderr


def test_boolean_accepts_only_true_false(driver):
    assert values(driver("--use-gpu", "false"))["use_gpu"] == "false"
    p = driver("--use_gpu", "yes")
    assert p.returncode == 1 and "true or false" in p.stderr
    # No value: must not silently take the next option as the value either.
    p = driver("--use_gpu")
    assert p.returncode == 1


def test_config_is_sourced_and_command_line_wins(driver, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "run.conf").write_text("stage=7\nstop_stage=8\n")
    v = values(driver("--stop-stage", "2", "--config", "conf/run.conf", "pos"))
    assert (v["stage"], v["stop_stage"], v["arg"]) == ("7", "2", ["pos"])
    (tmp_path / "local.conf").write_text("tag=fromconf\n")  # no slash: not searched in PATH
    assert values(driver("--config=local.conf"))["tag"] == "fromconf"


def test_missing_config_fails(driver):
    p = driver("--config", "nope.conf")
    assert p.returncode == 1 and "nope.conf" in p.stderr


def test_help_prints_help_message(driver):
    for flag in ("--help", "-h"):
        p = driver("--stage", "1", flag)
        assert p.returncode == 0
        assert p.stdout.startswith("Usage: driver.sh [options] <dir>\n  --stage N")
        assert "stage=" not in p.stdout


def test_executed_directly(tmp_path):
    script = UTILS / "parse_options.sh"
    p = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "Usage, in run.sh" in p.stdout
    p = subprocess.run(["bash", str(script), "--stage", "1"], capture_output=True, text=True)
    assert p.returncode != 0 and "must be sourced" in p.stderr
