"""ser.features.stf: short-term features against signals whose answers are known."""

import math

import numpy as np
import pytest
import torch

from ser.features.classical import get_extractor, mfcc
from ser.features.stf import ENERGY_FLOOR, STF_COLUMNS, num_frames, stf, stf_tracks
from ser.utils import SerError

SR = 16000


def tone(freq, seconds=1.0, amp=0.5):
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("freq", [440.0, 1234.0])
def test_pure_tone_centroid_energy_zcr(freq):
    tr = stf_tracks(tone(freq))
    # A steady tone: its spectrum is one (windowed) line at `freq`.
    assert np.median(tr["centroid"]) == pytest.approx(freq, rel=0.02)
    assert np.median(tr["spread"]) < 100.0
    assert np.median(tr["rolloff"]) == pytest.approx(freq, abs=2 * SR / 400)
    assert np.median(tr["entropy"]) < 0.3
    assert np.median(tr["flux"]) < 0.01
    # Mean square of a sinusoid of amplitude a is a^2 / 2.
    assert np.median(tr["log_energy"]) == pytest.approx(math.log(0.5**2 / 2), abs=0.01)
    # Two zero crossings per period.
    assert np.median(tr["zcr"]) == pytest.approx(2 * freq / SR, rel=0.05)


@pytest.mark.parametrize("freq", [75.0, 120.0, 220.0, 440.0])
def test_pure_tone_pitch_and_voicing(freq):
    tr = stf_tracks(tone(freq))
    inner = slice(2, -2)
    assert np.median(tr["pitch"][inner]) == pytest.approx(freq, rel=0.01)
    assert tr["voicing"][inner].min() > 0.9


def test_silence():
    tr = stf_tracks(np.zeros(SR, dtype=np.float32))
    assert np.allclose(tr["log_energy"], math.log(ENERGY_FLOOR))
    for name in STF_COLUMNS[1:]:
        assert np.all(tr[name] == 0.0), name


def test_white_noise_is_unvoiced_and_flat():
    noise = np.random.default_rng(0).normal(scale=0.1, size=SR).astype(np.float32)
    tr = stf_tracks(noise)
    assert np.mean(tr["pitch"] == 0.0) > 0.9
    assert np.median(tr["voicing"]) < 0.4
    assert np.median(tr["entropy"]) > 0.85
    assert np.median(tr["centroid"]) == pytest.approx(SR / 4, rel=0.1)
    assert np.median(tr["zcr"]) == pytest.approx(0.5, abs=0.05)


def test_flux_peaks_where_the_spectrum_changes():
    x = np.concatenate([tone(300.0, 0.5), tone(2000.0, 0.5)])
    tr = stf_tracks(x)
    change = SR // 2
    peak = int(np.argmax(tr["flux"]))
    # The frame whose window first straddles the change (or the one after it).
    assert peak * 160 <= change < peak * 160 + 400 + 160


@pytest.mark.parametrize("n", [400, 401, 12345, SR])
def test_frames_match_kaldi_features(n):
    x = np.random.default_rng(1).normal(scale=0.1, size=n).astype(np.float32)
    feats = stf(x)
    assert feats.shape == (num_frames(n), len(STF_COLUMNS))
    assert feats.shape[0] == mfcc(x).shape[0]
    assert feats.dtype == np.float32 and np.isfinite(feats).all()


def test_matrix_column_order_and_registry():
    x = tone(220.0)
    feats = get_extractor("stf")(x)
    tr = stf_tracks(x)
    for i, name in enumerate(STF_COLUMNS):
        assert np.array_equal(feats[:, i], tr[name])


def test_bad_input():
    with pytest.raises(SerError, match="shorter than one"):
        stf(np.zeros(100, dtype=np.float32))
    with pytest.raises(SerError, match="mono"):
        stf(np.zeros((2, 16000), dtype=np.float32))
