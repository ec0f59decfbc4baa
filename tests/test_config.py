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


def test_overlays_in_order_then_overrides(tmp_path):
    base, o1, o2 = tmp_path / "base.yaml", tmp_path / "o1.yaml", tmp_path / "o2.yaml"
    base.write_text("model:\n  name: m\n  dim: 8\ntrain:\n  lr: 0.5\n")
    o1.write_text("model:\n  dim: 16\ntrain:\n  epochs: 5\n")
    o2.write_text("train:\n  lr: 0.2\n")
    conf = load_config(
        base, DEFAULTS, parse_overrides(["model.dim=32", "train.lr=0.3"]), overlays=[o1, o2], free=("model",)
    )
    assert conf == {"a": 1, "train": {"lr": 0.3, "epochs": 5}, "model": {"name": "m", "dim": 32}}
    assert load_config(base, DEFAULTS, overlays=[o1, o2], free=("model",))["model"]["dim"] == 16


def test_overlay_cannot_switch_model_or_add_unknown_keys(tmp_path):
    base, bad_name, bad_key = tmp_path / "base.yaml", tmp_path / "n.yaml", tmp_path / "k.yaml"
    base.write_text("model:\n  name: m\n")
    bad_name.write_text("model:\n  name: other\n")
    bad_key.write_text("train:\n  lrr: 1\n")
    with pytest.raises(SerError, match=r"n.yaml: an overlay cannot change model.name"):
        load_config(base, DEFAULTS, overlays=[bad_name], free=("model",))
    with pytest.raises(SerError, match=r"k.yaml: unknown config key 'train.lrr'"):
        load_config(base, DEFAULTS, overlays=[bad_key], free=("model",))
