"""egs/TEMPLATE/ser1/ser.sh, the generic pipeline, without training anything: which systems it trains
with which configs and overlays, where they go, and the order in which recipe defaults, demo mode
and the user's options apply."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import link_template

REPO = Path(__file__).resolve().parents[3]

FAKE_CMD = """#!/usr/bin/env bash
# Stands in for utils/run.py: records the command and fakes a trained model.
log=$1; shift
echo "$*" >> "$CALLS"
while [ $# -gt 0 ]; do case $1 in --exp-dir) exp=$2; shift;; esac; shift; done
mkdir -p "$exp"; echo model > "$exp/model.best.pt"
"""


@pytest.fixture
def recipe(tmp_path):
    link_template(tmp_path)
    for split in ("train", "valid", "test"):
        d = tmp_path / "data/folds/s/fold1" / split
        d.mkdir(parents=True)
        (d / "utt2emo").write_text("a neu\n")
    (tmp_path / "conf/tuning").mkdir(parents=True)
    (tmp_path / "conf/demo").mkdir()
    for name in ("recipe.yaml", "demo.yaml", "user.yaml", "extra.yaml", "up_fbank.yaml", "tuning/abl.yaml"):
        (tmp_path / "conf" / name).write_text("model: {name: x}\n")
    (tmp_path / "conf/demo/run.conf").write_text("echo '=== demo' >&2\nsystems=conf/demo.yaml\nfolds=1\n")
    (tmp_path / "fake_cmd.sh").write_text(FAKE_CMD)
    (tmp_path / "fake_cmd.sh").chmod(0o755)
    return tmp_path


def run(recipe, recipe_opts, user_opts=(), env=None):
    """Stage 2 from scratch (a trained fold would be skipped); returns the training commands."""
    import shutil

    shutil.rmtree(recipe / "exp", ignore_errors=True)
    calls = recipe / "calls"
    calls.unlink(missing_ok=True)
    full_env = {
        **os.environ,
        "CALLS": str(calls),
        "cuda_cmd": "./fake_cmd.sh",
        "train_cmd": "./fake_cmd.sh",
        "CORPUS": "",
        **(env or {}),
    }
    proc = subprocess.run(
        [
            "bash",
            "ser.sh",
            "--scheme",
            "s",
            "--stage",
            "2",
            "--stop_stage",
            "2",
            "--corpus_var",
            "CORPUS",
            *recipe_opts,
            "--",
            *user_opts,
        ],
        cwd=recipe,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = calls.read_text().splitlines() if calls.is_file() else []
    return proc, [line for line in lines if "ser.bin.train" in line]


def opt(call, name):
    words = call.split()
    return [words[i + 1] for i, w in enumerate(words) if w == name]


def test_systems_overlays_ablations_and_their_dirs(recipe):
    _, calls = run(
        recipe,
        [
            "--systems",
            "conf/recipe.yaml+conf/up_{upstream}.yaml?+conf/missing_{upstream}.yaml? "
            "b=conf/recipe.yaml+conf/extra.yaml",
            "--upstream",
            "fbank",
            "--exp_name",
            "e_{upstream}",
            "--ablations",
            "abl",
            "--model_opts",
            "model.upstream={upstream}",
        ],
        ["--train_opts", "train.lr=0.1"],
        env={"CORPUS": "/data"},
    )
    assert [opt(c, "--exp-dir") for c in calls] == [
        ["exp/e_fbank/fold1"],
        ["exp/e_fbank/b/fold1"],
        ["exp/e_fbank/ablations/abl/fold1"],
    ]
    assert [opt(c, "--overlay") for c in calls] == [
        ["conf/up_fbank.yaml"],
        ["conf/extra.yaml"],
        ["conf/up_fbank.yaml", "conf/tuning/abl.yaml"],
    ]
    assert all(opt(c, "--set") == ["model.upstream=fbank", "train.lr=0.1"] for c in calls)
    assert "cd " in (recipe / "exp/e_fbank/run.sh").read_text()


def test_recipe_defaults_then_demo_config_then_user_options(recipe):
    proc, calls = run(recipe, ["--systems", "conf/recipe.yaml"])  # CORPUS unset: demo mode
    assert "=== demo" in proc.stderr and [opt(c, "--config") for c in calls] == [["conf/demo.yaml"]]
    _, calls = run(recipe, ["--systems", "conf/recipe.yaml"], ["--systems", "conf/user.yaml"])
    assert [opt(c, "--config") for c in calls] == [["conf/user.yaml"]]
    proc, calls = run(recipe, ["--systems", "conf/recipe.yaml"], env={"CORPUS": "/data"})
    assert "=== demo" not in proc.stderr and [opt(c, "--config") for c in calls] == [["conf/recipe.yaml"]]
    proc, calls = run(recipe, ["--systems", "conf/recipe.yaml"], ["--demo", "false"])
    assert "=== demo" not in proc.stderr and [opt(c, "--config") for c in calls] == [["conf/recipe.yaml"]]


def test_bad_options_fail_clearly(recipe):
    for opts, message in (
        (["--systems", "conf/recipe.yaml", "--ablations", "nope"], "conf/tuning/nope.yaml not found"),
        (["--systems", ""], "no --systems given"),
        (["--systems", "conf/recipe.yaml", "--no_such_option", "1"], "unknown option --no_such_option"),
        (["--systems", "a=conf/recipe.yaml", "--fusions", "f=a+b"], "fusion f: 'b' is not a system of --systems (a)"),
        (["--systems", "a=conf/recipe.yaml", "--fusions", "f"], "--fusions 'f': expected name=system,system+system"),
    ):
        proc = subprocess.run(
            ["bash", "ser.sh", "--scheme", "s", *opts, "--"],
            cwd=recipe,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "cuda_cmd": "./fake_cmd.sh"},
        )
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_systems_by_name_with_their_own_overrides_and_a_common_overlay(recipe):
    (recipe / "conf/train.yaml").write_text("model: {name: x}\n")
    (recipe / "conf/tuning/sys_a.yaml").write_text("model: {dim: 2}\n")
    _, calls = run(
        recipe,
        [
            "--systems",
            "sys_a abl_lam0.3=conf/train.yaml+conf/tuning/abl.yaml@model.lam=0.3@train.lr=[1]",
            "--common_overlay",
            "conf/demo.yaml",
            "--exp_name",
            "x",
        ],
        env={"CORPUS": "/data"},
    )
    assert [opt(c, "--exp-dir") for c in calls] == [["exp/x/sys_a/fold1"], ["exp/x/abl_lam0.3/fold1"]]
    assert [opt(c, "--config") for c in calls] == [["conf/train.yaml"]] * 2
    assert [opt(c, "--overlay") for c in calls] == [
        ["conf/tuning/sys_a.yaml", "conf/demo.yaml"],
        ["conf/tuning/abl.yaml", "conf/demo.yaml"],
    ]
    assert [opt(c, "--set") for c in calls] == [[], ["model.lam=0.3", "train.lr=[1]"]]


def test_results_record_the_training_command_and_the_rescoring_one(recipe):
    """Stage 4 run alone records the command that trained (with the corpus variable) and its own."""
    run(recipe, ["--systems", "conf/recipe.yaml", "--cmdline", "./run.sh --folds 1"], env={"CORPUS": "/data"})
    pred = recipe / "exp/ser/fold1/infer_test"
    pred.mkdir(parents=True)
    (pred / "utt2emo_pred").write_text("a neu\n")
    (pred / "classes.txt").write_text("neu\n")
    (recipe / "data/folds/s/fold1/test/utt2spk").write_text("a s\n")
    env = {
        **os.environ,
        "CORPUS": "/data",
        "cuda_cmd": "./fake_cmd.sh",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    proc = subprocess.run(
        [
            "bash",
            "ser.sh",
            "--scheme",
            "s",
            "--corpus_var",
            "CORPUS",
            "--systems",
            "conf/recipe.yaml",
            "--stage",
            "4",
            "--stop_stage",
            "4",  # stage 5 would pack this test's fake models
            "--cmdline",
            "./run.sh --stage 4",
            "--",
        ],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    results = (recipe / "exp/ser/RESULTS.md").read_text()
    assert "CORPUS=/data ./run.sh --folds 1\n./run.sh --stage 4  # scored by" in results


def test_dumpdir_places_the_stores(recipe):
    """--dumpdir ../dump: the stores a corpus's recipes can share; training reads them there."""
    _, calls = run(
        recipe,
        ["--systems", "conf/recipe.yaml", "--feats", "fb=fbank ssl=upstream:hubert", "--dumpdir", "../dump"],
        env={"CORPUS": "/data"},
    )
    assert opt(calls[0], "--feat") == ["fb=../dump/fb/feats.scp", "ssl=../dump/ssl_hubert/feats.scp"]
