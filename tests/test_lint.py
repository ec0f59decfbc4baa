"""Lint, run in CI with the tests: ruff (lint and format check, settings in ruff.toml) over the Python
tree, and shellcheck (settings in .shellcheckrc) over every tracked shell script and shell-fragment
config. Both are installed into the venv by tools/install.sh (setup.py's `test` extra)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.is_file():
        pytest.fail(f"{path} not found: run tools/install.sh (it installs the linters)")
    return str(path)


def run(*cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def tracked_files() -> list:
    """Tracked regular files (links left out: their targets are checked once)."""
    out = run("git", "ls-files", "-s").stdout.splitlines()
    return [line.split("\t", 1)[1] for line in out if not line.startswith("120000")]


def test_ruff_lint_and_format():
    lint = run(tool("ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run(tool("ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, f"run `tools/venv/bin/ruff format .`:\n{fmt.stdout}{fmt.stderr}"


def test_shellcheck():
    files = tracked_files()
    scripts = [f for f in files if f.endswith(".sh") or f == ".ci/run"]
    fragments = [f for f in files if f.endswith("run.conf")]  # sourced assignments (demo settings)
    assert len(scripts) > 30 and fragments
    for group, extra in ((scripts, ()), (fragments, ("-s", "bash"))):
        proc = run(tool("shellcheck"), "-S", "warning", *extra, *group)
        assert proc.returncode == 0, proc.stdout + proc.stderr
