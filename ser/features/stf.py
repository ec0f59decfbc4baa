"""Short-term features (STF): nine frame-level descriptors on Kaldi's frame grid.

Frames are those of torchaudio.compliance.kaldi.mfcc/fbank (25 ms window, 10 ms hop, snip_edges:
1 + (N - 400) // 160 frames at 16 kHz), so row i of an STF matrix describes the same audio as row i
of an MFCC matrix. Columns (STF_COLUMNS):

  log_energy   log of the frame's mean squared sample (samples in [-1, 1]); silence -> log(1e-10)
  zcr          zero-crossing rate: share of adjacent sample pairs that change sign
  centroid     spectral centroid (Hz) of the magnitude spectrum
  spread       spectral spread (Hz): magnitude-weighted standard deviation around the centroid
  rolloff      frequency (Hz) below which ROLLOFF (85 %) of the spectral power lies
  flux         L2 distance between this and the previous frame's sum-normalised magnitude spectra
  entropy      Shannon entropy of the power spectrum as a distribution over bins, divided by
               log(bins): near 0 for a pure tone, near 1 for white noise
  pitch        F0 (Hz) of voiced frames, 0 elsewhere
  voicing      the normalised cross-correlation peak behind that F0 (0 = aperiodic, 1 = periodic)

Definitions follow pyAudioAnalysis' short-term features (Giannakopoulos 2015), the feature set the
paper's "STF" names, with frequencies in Hz. The spectra come from torch.stft (Hann window,
n_fft = 400 so the frames are Kaldi's). Frames without energy give 0 for every spectral column.

Pitch and voicing: torchaudio 2.11 has no compute_kaldi_pitch any more, and its
detect_pitch_frequency does not fit here: it frames the signal in non-overlapping 10 ms blocks
(not Kaldi's grid), divides the cross-correlation by the squared energies (so its peak is no
voicing measure), floors F0 at 85 Hz and median-smooths over 300 ms. So pitch is the classic
normalised cross-correlation (NCCF) tracker of RAPT / Kaldi pitch, computed with torch FFTs:
for each frame start b and lag m in [sr/F0_MAX, sr/F0_MIN],
    nccf(m) = sum_n x[b+n] x[b+n+m] / sqrt(E(b) E(b+m)),  n < 400,
the chosen lag is the shortest local maximum within OCTAVE_TOLERANCE of the global one (which
avoids period doubling), refined by parabolic interpolation; voicing is nccf at that lag, and a
frame is voiced when voicing >= VOICING_THRESHOLD and it is not silent.
"""

import numpy as np
import torch

from ser.data.audio import SAMPLE_RATE
from ser.utils import SerError

WIN = 400  # 25 ms
HOP = 160  # 10 ms
ROLLOFF = 0.85
F0_MIN, F0_MAX = 60.0, 500.0
OCTAVE_TOLERANCE = 0.9
VOICING_THRESHOLD = 0.5
ENERGY_FLOOR = 1e-10
# A frame quieter than this (mean square, about -80 dBFS) counts as silence.
SILENCE = 1e-8
STF_COLUMNS = ("log_energy", "zcr", "centroid", "spread", "rolloff", "flux", "entropy", "pitch", "voicing")


def num_frames(num_samples: int) -> int:
    """Kaldi's frame count with snip_edges (0 when shorter than one window)."""
    return 0 if num_samples < WIN else 1 + (num_samples - WIN) // HOP


def _frames(x: torch.Tensor, length: int) -> torch.Tensor:
    """(T, length) frames starting every HOP samples (zero-padded at the end when needed)."""
    t = num_frames(x.shape[0])
    need = (t - 1) * HOP + length
    if x.shape[0] < need:
        x = torch.nn.functional.pad(x, (0, need - x.shape[0]))
    return x.unfold(0, length, HOP)[:t]


def _spectral(x: torch.Tensor) -> dict:
    mag = (
        torch.stft(
            x,
            n_fft=WIN,
            hop_length=HOP,
            win_length=WIN,
            window=torch.hann_window(WIN, dtype=x.dtype),
            center=False,
            return_complex=True,
        )
        .abs()
        .T
    )  # (T, bins)
    freqs = torch.linspace(0, SAMPLE_RATE / 2, mag.shape[1], dtype=x.dtype)
    total = mag.sum(1, keepdim=True)
    silent = total[:, 0] <= 1e-12
    p = mag / total.clamp_min(1e-12)
    centroid = (p * freqs).sum(1)
    spread = torch.sqrt((p * (freqs - centroid[:, None]) ** 2).sum(1))
    power = mag**2
    cum = power.cumsum(1)
    rolloff_bin = (cum < ROLLOFF * cum[:, -1:]).sum(1).clamp(max=mag.shape[1] - 1)
    rolloff = freqs[rolloff_bin]
    flux = torch.zeros_like(centroid)
    if mag.shape[0] > 1:
        flux[1:] = torch.linalg.vector_norm(p[1:] - p[:-1], dim=1)
    q = power / power.sum(1, keepdim=True).clamp_min(1e-20)
    entropy = -(q * torch.log(q.clamp_min(1e-20))).sum(1) / np.log(mag.shape[1])
    out = {"centroid": centroid, "spread": spread, "rolloff": rolloff, "flux": flux, "entropy": entropy}
    for v in out.values():
        v[silent] = 0.0
    return out


def _pitch(x: torch.Tensor, frame_energy: torch.Tensor) -> tuple:
    """(pitch Hz, voicing) per Kaldi frame from the NCCF over lags sr/F0_MAX .. sr/F0_MIN."""
    lag_min = int(np.floor(SAMPLE_RATE / F0_MAX))
    lag_max = int(np.ceil(SAMPLE_RATE / F0_MIN))
    ext = _frames(x, WIN + lag_max + 1)  # each frame plus what the longest lag reaches
    ext = ext - ext[:, :WIN].mean(1, keepdim=True)
    ref = ext[:, :WIN]
    # Circular cross-correlation by FFT; no lag used wraps around since n_fft >= the frame extent.
    n_fft = 1 << int(np.ceil(np.log2(ext.shape[1])))
    xc = torch.fft.irfft(torch.fft.rfft(ext, n_fft).mul(torch.fft.rfft(ref, n_fft).conj()), n_fft)
    lags = torch.arange(lag_min - 1, lag_max + 2)  # one extra on each side for peak picking
    num = xc[:, lags]
    sq = torch.nn.functional.pad((ext**2).cumsum(1), (1, 0))
    e_ref = sq[:, WIN]
    e_lag = sq[:, lags + WIN] - sq[:, lags]
    nccf = num / torch.sqrt(e_ref[:, None] * e_lag).clamp_min(1e-20)
    inner = nccf[:, 1:-1]
    peak = (inner >= nccf[:, :-2]) & (inner >= nccf[:, 2:])
    best = inner.max(1, keepdim=True).values
    cand = peak & (inner >= OCTAVE_TOLERANCE * best)
    first = torch.where(cand.any(1), cand.float().argmax(1), inner.argmax(1))
    rows = torch.arange(inner.shape[0])
    y0, y1, y2 = nccf[rows, first], nccf[rows, first + 1], nccf[rows, first + 2]
    denom = y0 - 2 * y1 + y2
    shift = torch.where(denom.abs() > 1e-12, 0.5 * (y0 - y2) / denom, torch.zeros_like(denom)).clamp(-0.5, 0.5)
    lag = (lags[0] + 1 + first).to(x.dtype) + shift
    voicing = y1.clamp(0.0, 1.0)
    voiced = (voicing >= VOICING_THRESHOLD) & (frame_energy > SILENCE)
    pitch = torch.where(voiced, SAMPLE_RATE / lag, torch.zeros_like(lag))
    voicing = torch.where(frame_energy > SILENCE, voicing, torch.zeros_like(voicing))
    return pitch, voicing


def stf_tracks(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """Named (T,) float32 arrays, one per STF column, for a mono waveform in [-1, 1]."""
    if sample_rate != SAMPLE_RATE:
        raise SerError(f"STF expects {SAMPLE_RATE} Hz audio, got {sample_rate} Hz (load_audio resamples)")
    x = torch.as_tensor(np.asarray(wav, dtype=np.float64))
    if x.dim() != 1:
        raise SerError(f"STF expects a mono 1-D waveform, got shape {tuple(x.shape)}")
    if num_frames(x.shape[0]) == 0:
        raise SerError(f"audio of {x.shape[0]} samples is shorter than one {WIN}-sample STF frame")
    frames = _frames(x, WIN)
    mean_sq = (frames**2).mean(1)
    tracks = {
        "log_energy": torch.log(mean_sq + ENERGY_FLOOR),
        "zcr": (torch.signbit(frames[:, 1:]) != torch.signbit(frames[:, :-1])).double().mean(1),
        **_spectral(x),
    }
    # An all-zero frame has no sign changes, whatever signbit says about +0.0 / -0.0.
    tracks["zcr"][mean_sq <= 0] = 0.0
    # float32 is ample for the correlation peak and four times faster than float64 here.
    pitch, voicing = _pitch(x.float(), mean_sq.float())
    tracks["pitch"], tracks["voicing"] = pitch.double(), voicing.double()
    return {k: tracks[k].float().numpy() for k in STF_COLUMNS}


def stf(wav: np.ndarray) -> np.ndarray:
    """(T, 9) STF matrix with the columns STF_COLUMNS; the feature-dump extractor ("stf")."""
    tracks = stf_tracks(wav)
    return np.stack([tracks[k] for k in STF_COLUMNS], axis=1)
