"""Run-config values are checked when loaded (ser.config_check), naming the key and its source file
or --set: each case below used to give a raw traceback epochs later or a silently odd run."""

import os
import subprocess
import sys

import pytest

from tests.train.toy_fold import REPO, make_fold


@pytest.mark.parametrize(
    "line, message",
    [
        ("train: {max_epochs: two}", "train.max_epochs: 'two' is not an integer"),
        ("train: {lr: fast}", "train.lr: 'fast' is not a number"),
        ("train: {patience: '5'}", "train.patience: '5' is not an integer"),
        ("train: {batch_size: 0}", "train.batch_size: 0 must be at least 1"),
        ("train: {batch_size: -4}", "train.batch_size: -4 must be at least 1"),
        ("train: {lr: 0}", "train.lr: 0 must be above 0"),
        ("data: {classes: 'neu,hap'}", "data.classes: 'neu,hap' is not a list"),
        ("data: {classes: [neu, hap, neu]}", "data.classes: ['neu'] appear more than once"),
        ("train: {device: 'cuda:7'}", "train.device: 'cuda:7'"),
        ("train: {device: gpu}", "train.device: 'gpu' is not auto, cpu, cuda"),
    ],
)
def test_bad_values_name_key_and_file(tmp_path, line, message):
    from ser.train.experiment import load_run_config
    from ser.utils import SerError

    root = make_fold(tmp_path)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(line + "\n")
    with pytest.raises(SerError) as e:
        load_run_config(root / "train.yaml", [overlay])
    assert f"{overlay}: {message}" in str(e.value)


def test_the_program_gives_the_message_not_a_traceback(tmp_path):
    root = make_fold(tmp_path)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("train: {max_epochs: two}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ser.bin.train", "--config", str(root / "train.yaml"), "--overlay", str(overlay),
         "--print-config"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and f"{overlay}: train.max_epochs: 'two' is not an integer" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_override_is_named_as_such(tmp_path):
    from ser.train.experiment import load_run_config
    from ser.utils import SerError

    root = make_fold(tmp_path)
    with pytest.raises(SerError, match=r"--set train.max_epochs: train.max_epochs: 'x' is not an integer"):
        load_run_config(root / "train.yaml", overrides={"train.max_epochs": "x"})
    assert load_run_config(root / "train.yaml", overrides={"train.lr": 1})["train"]["lr"] == 1  # an int is a number
