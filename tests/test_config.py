import pytest

from ser.config import load_config, parse_overrides
from ser.utils import SerError

DEFAULTS = {"a": 1, "train": {"lr": 0.1, "epochs": 3}}


def test_yaml_over_defaults_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 0.5\n")
    conf = load_config(f, DEFAULTS, parse_overrides(["train.epochs=7"]))
    assert conf == {"a": 1, "train": {"lr": 0.5, "epochs": 7}}


def test_unknown_key_names_file_and_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lrr: 0.5\n")
    with pytest.raises(SerError, match=r"c.yaml: unknown config key 'train.lrr'"):
        load_config(f, DEFAULTS)


def test_missing_and_bad_yaml(tmp_path):
    with pytest.raises(SerError, match="not found"):
        load_config(tmp_path / "none.yaml", DEFAULTS)
    f = tmp_path / "bad.yaml"
    f.write_text("a: [1, 2\n")
    with pytest.raises(SerError, match="not valid YAML"):
        load_config(f, DEFAULTS)


def test_exponent_without_dot_is_a_number(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 1e-4\n")
    assert load_config(f, DEFAULTS)["train"]["lr"] == 1e-4
    assert parse_overrides(["train.lr=2e-3", "a=x1e5"]) == {"train.lr": 2e-3, "a": "x1e5"}
