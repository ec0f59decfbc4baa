"""ser.augment.speed: speed perturbation on log-mel features."""

import numpy as np
import pytest
import torch
import torchaudio

from ser.augment.speed import LogMelSpeedPerturb, frequency_source_bins, speed_perturb_logmel
from ser.features.classical import fbank


def _harmonic_wav(seconds=1.0, f0=180.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)  # amplitude modulation, so time matters too
    wav = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 20)) * env
    return (0.1 * wav).astype(np.float32)


def test_factor_one_is_identity_and_lengths_scale():
    x = torch.randn(200, 80)
    assert torch.equal(speed_perturb_logmel(x, 1.0), x)
    assert speed_perturb_logmel(x, 1.1).shape == (round(200 / 1.1), 80)
    assert speed_perturb_logmel(x, 0.9).shape == (round(200 / 0.9), 80)


def test_source_bins_move_down_when_speeding_up():
    src = frequency_source_bins(80, 1.1)
    same = frequency_source_bins(80, 1.0)
    assert torch.allclose(same, torch.arange(80, dtype=torch.float32), atol=1e-4)
    assert (src[5:] < same[5:]).all()  # bin i now shows what was at a lower frequency


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_matches_real_speed_perturbation_of_the_audio(factor):
    """The feature-domain version is much closer to fbank(resampled audio) than the unperturbed
    features are (both cut to a common length)."""
    wav = _harmonic_wav()
    sped, _ = torchaudio.transforms.Speed(16000, factor)(torch.from_numpy(wav))
    target = torch.from_numpy(fbank(sped.numpy()))
    orig = torch.from_numpy(fbank(wav))
    approx = speed_perturb_logmel(orig, factor)
    n = min(len(target), len(approx), len(orig))
    err_approx = (approx[:n] - target[:n]).abs().mean()
    err_orig = (orig[:n] - target[:n]).abs().mean()
    assert err_approx < 0.5 * err_orig, (float(err_approx), float(err_orig))


def test_batch_module_pads_and_reports_lengths():
    torch.manual_seed(0)
    x = torch.randn(4, 120, 40)
    lens = torch.tensor([120, 100, 80, 60])
    x[1, 100:] = x[2, 80:] = x[3, 60:] = 0
    torch.manual_seed(1)
    out, new_lens = LogMelSpeedPerturb((0.9, 1.0, 1.1))(x, lens)
    assert out.shape[0] == 4 and out.shape[1] == int(new_lens.max())
    for i in range(4):
        assert round(int(lens[i]) / 1.1) <= new_lens[i] <= round(int(lens[i]) / 0.9)
        assert (out[i, int(new_lens[i]) :] == 0).all()
    torch.manual_seed(1)
    again, _ = LogMelSpeedPerturb((0.9, 1.0, 1.1))(x, lens)
    assert torch.equal(out, again)  # the draw follows torch's seed


def test_rejects_bad_factors():
    with pytest.raises(ValueError):
        LogMelSpeedPerturb((0.0, 1.0))
