"""ser.features.functionals: openSMILE functionals, one row per utterance."""

import numpy as np
import pytest

from ser.features.functionals import functionals_extractor
from ser.utils import SerError


def _tone(f0, seconds=1.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_egemaps_is_one_finite_row_that_follows_pitch():
    extract = functionals_extractor("egemaps")
    low, high = extract(_tone(120)), extract(_tone(240))
    assert low.shape == high.shape == (1, 88) and low.dtype == np.float32
    assert np.isfinite(low).all()
    # F0semitoneFrom27.5Hz_sma3nz_amean is the first eGeMAPS functional: an octave is 12 semitones
    assert high[0, 0] - low[0, 0] == pytest.approx(12.0, abs=1.0)


def test_unknown_set_is_an_error():
    with pytest.raises(SerError, match="unknown functionals set 'gemaps'"):
        functionals_extractor("gemaps")
