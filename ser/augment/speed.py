"""Speed perturbation (Ko et al. 2015) applied to log-mel features instead of the waveform.

Playing audio `a` times faster shortens it to T/a and scales every frequency by `a`. On a dumped
log-mel (Kaldi fbank: filters equally spaced on mel(f) = 1127 ln(1 + f/700) between `low_freq` and
`high_freq`) both are resamplings: the time axis is interpolated to T/a frames and bin i takes the
value of the old spectrum at f_i / a (linear interpolation between neighbouring bins, edges held).
This lets a recipe dump features once and still draw a new factor per utterance and epoch; it
ignores that the filters' widths would scale too (a level change of log a, under 0.1 for 0.9..1.1).
"""

import math

import torch
from torch import nn


def _mel(f):
    return 1127.0 * math.log(1.0 + f / 700.0)


def _inv_mel(m):
    return 700.0 * (math.exp(m / 1127.0) - 1.0)


def frequency_source_bins(num_bins: int, factor: float, low_freq: float = 20.0, high_freq: float = 8000.0):
    """(num_bins,) fractional index of the old bin whose centre is f_i / factor, clamped to the range."""
    lo, hi = _mel(low_freq), _mel(high_freq)
    step = (hi - lo) / (num_bins + 1)
    centres = [_inv_mel(lo + (i + 1) * step) for i in range(num_bins)]
    src = [(_mel(f / factor) - lo) / step - 1.0 for f in centres]
    return torch.tensor(src, dtype=torch.float32).clamp(0.0, num_bins - 1.0)


def speed_perturb_logmel(x: torch.Tensor, factor: float, low_freq: float = 20.0, high_freq: float = 8000.0):
    """(T, F) log-mel of one utterance -> (round(T / factor), F) as if its audio were sped up by `factor`."""
    if factor == 1.0:
        return x
    num_frames, num_bins = x.shape
    src = frequency_source_bins(num_bins, factor, low_freq, high_freq).to(x.device)
    i0 = src.floor().long().clamp(max=num_bins - 2)
    w = (src - i0).to(x.dtype)
    x = x[:, i0] * (1 - w) + x[:, i0 + 1] * w
    new_len = max(1, round(num_frames / factor))
    return nn.functional.interpolate(x.T.unsqueeze(0), size=new_len, mode="linear", align_corners=True)[0].T


class LogMelSpeedPerturb(nn.Module):
    """forward(x (B, T, F), lens (B,)) -> (B, T', F), lens'; one factor per utterance drawn from
    `factors` with torch's global RNG (seeded and checkpointed by the trainer); zero padding."""

    def __init__(self, factors=(0.9, 1.0, 1.1), low_freq: float = 20.0, high_freq: float = 8000.0):
        super().__init__()
        if not factors or any(f <= 0 for f in factors):
            raise ValueError(f"speed factors must be positive, got {factors}")
        self.factors = tuple(float(f) for f in factors)
        self.low_freq, self.high_freq = low_freq, high_freq

    def forward(self, x: torch.Tensor, lens: torch.Tensor, factor: float | None = None):
        """`factor` given: every utterance at that speed (test-time augmentation), no random draw."""
        if factor is None:
            factors = [self.factors[k] for k in torch.randint(len(self.factors), (x.shape[0],)).tolist()]
        else:
            factors = [float(factor)] * x.shape[0]
        outs = [
            speed_perturb_logmel(x[i, : int(lens[i])], a, self.low_freq, self.high_freq) for i, a in enumerate(factors)
        ]
        new_lens = torch.tensor([o.shape[0] for o in outs], dtype=lens.dtype, device=lens.device)
        out = x.new_zeros(x.shape[0], int(new_lens.max()), x.shape[2])
        for i, o in enumerate(outs):
            out[i, : o.shape[0]] = o
        return out, new_lens
