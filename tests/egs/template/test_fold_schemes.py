"""An experiment dir serves one fold scheme (scripts/folds.sh `exp_scheme`): fold k of another
scheme tests speakers that this dir's fold k trained on, so training, predicting, fusing or scoring
it under another scheme is refused, and nothing already computed is touched. Also the fold and
scheme checks made before any dir is created (--folds 9, --scheme nosuch)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

FAKE_CMD = """#!/usr/bin/env bash
# Stands in for utils/run.py: fakes what training or inference writes.
log=$1; shift
while [ $# -gt 0 ]; do case $1 in --exp-dir) exp=$2; shift;; --out-dir) out=$2; shift;; esac; shift; done
if [ -n "${out:-}" ]; then mkdir -p "$out"; echo post > "$out/utt2post"
else mkdir -p "$exp"; echo "model $RANDOM" > "$exp/model.best.pt"; fi
"""


@pytest.fixture
def recipe(tmp_path):
    (tmp_path / "utils").symlink_to(REPO / "tools/utils")
    (tmp_path / "scripts").symlink_to(REPO / "egs/TEMPLATE/ser1/scripts")
    for scheme, spk in (("session", "Ses01"), ("speaker", "Ses02F")):
        for split in ("train", "valid", "test"):
            d = tmp_path / "data/folds" / scheme / "fold1" / split
            d.mkdir(parents=True)
            (d / "utt2emo").write_text(f"{spk}_{split} neu\n")
    (tmp_path / "conf.yaml").write_text("model: {name: x}\n")
    (tmp_path / "fake_cmd.sh").write_text(FAKE_CMD)
    (tmp_path / "fake_cmd.sh").chmod(0o755)
    return tmp_path


def script(recipe, name, *args):
    return subprocess.run(
        ["bash", f"scripts/{name}", *args],
        cwd=recipe,
        env={**os.environ, "PATH": f"{REPO / 'tools/venv/bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def train(recipe, scheme, folds="1"):
    return script(
        recipe, "train_folds.sh", "--train_config", "conf.yaml", "--scheme", scheme, "--folds", folds,
        "--cmd", "./fake_cmd.sh", "exp/x",
    )  # fmt: skip


def test_an_exp_dir_refuses_another_scheme(recipe):
    assert train(recipe, "session").returncode == 0
    assert (recipe / "exp/x/.scheme").read_text().strip() == "session"
    model = (recipe / "exp/x/fold1/model.best.pt").read_text()
    pred = (recipe / "exp/x/fold1/infer_test/utt2post").read_text()

    proc = train(recipe, "speaker")  # before: "trained for its current inputs" or a retrain over session's model
    assert proc.returncode == 1
    assert "'session' fold scheme, not 'speaker'" in proc.stderr and "--exp_name" in proc.stderr
    proc = script(recipe, "infer_folds.sh", "--scheme", "speaker", "--cmd", "./fake_cmd.sh", "exp/x")
    assert proc.returncode == 1 and "'session' fold scheme" in proc.stderr
    proc = script(recipe, "score_folds.sh", "--scheme", "speaker", "exp/x")
    assert proc.returncode == 1 and "'session' fold scheme" in proc.stderr
    proc = script(recipe, "fuse_folds.sh", "--scheme", "speaker", "--groups", "exp/x", "exp/fused")
    assert proc.returncode == 1 and "'session' fold scheme" in proc.stderr
    assert (recipe / "exp/x/fold1/model.best.pt").read_text() == model
    assert (recipe / "exp/x/fold1/infer_test/utt2post").read_text() == pred
    assert (recipe / "exp/x/.scheme").read_text().strip() == "session"


def test_unknown_folds_and_schemes_fail_before_any_dir_is_made(recipe):
    proc = train(recipe, "session", folds="9")
    assert proc.returncode == 1 and "fold '9' is not a fold of the session scheme (folds: 1)" in proc.stderr
    proc = train(recipe, "session", folds="abc")
    assert proc.returncode == 1 and "fold 'abc'" in proc.stderr
    proc = train(recipe, "nosuch")
    assert proc.returncode == 1 and "no fold scheme 'nosuch'" in proc.stderr and "session" in proc.stderr
    assert not (recipe / "exp").exists()
