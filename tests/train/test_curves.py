"""Training curves from a fold's history.json: a PNG from ser.bin.train's own log, TensorBoard
events when the optional package is there."""

import json

import pytest

from ser.train.curves import series, tensorboard_events, write_curves
from ser.utils import SerError

from conftest import assert_png

HISTORY = [
    {"epoch": e, "train": {"loss": 2.0 / e}, "valid": {"loss": 2.5 / e, "ua": 0.2 + 0.1 * e, "wa": 0.3}, "x": [1]}
    for e in range(1, 6)
]


def test_curves_png(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    written = write_curves(tmp_path)
    assert written[0] == tmp_path / "curves.png"
    assert_png(tmp_path / "curves.png")
    s = series(HISTORY)
    assert sorted(s) == ["train/loss", "valid/loss", "valid/ua", "valid/wa"] and s["valid/ua"][0] == [1, 2, 3, 4, 5]


def test_tensorboard_when_installed(tmp_path):
    try:
        import tensorboard  # noqa: F401

        installed = True
    except ImportError:
        installed = False
    out = tensorboard_events(tmp_path, HISTORY)
    if installed:
        assert out is not None and any(p.name.startswith("events.out.tfevents") for p in out.iterdir())
    else:
        assert out is None and not (tmp_path / "tensorboard").exists()


def test_no_history(tmp_path):
    with pytest.raises(SerError, match="history.json not found"):
        write_curves(tmp_path)
