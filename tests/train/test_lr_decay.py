"""ser.train.trainer.lr_factor: warm-up, then constant or cosine decay."""

import math

import pytest

from ser.train.trainer import TrainConfig, lr_factor
from ser.utils import SerError


def test_constant_after_warmup_by_default():
    f = lr_factor(TrainConfig(warmup_steps=4), 100)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(99) == 1.0


def test_cosine_decays_to_zero_at_the_last_step():
    f = lr_factor(TrainConfig(warmup_steps=10, lr_decay="cosine"), 110)
    assert f(9) == 1.0 and f(10) == 1.0
    assert math.isclose(f(60), 0.5, abs_tol=1e-9)
    assert f(110) == 0.0 and f(500) == 0.0
    assert all(f(s) >= f(s + 1) for s in range(10, 110))


def test_unknown_decay_is_a_config_error():
    with pytest.raises(SerError, match="lr_decay"):
        lr_factor(TrainConfig(lr_decay="step"), 10)
