"""Classical frame features through torchaudio's Kaldi-compatible implementations (10 ms hop)."""

import numpy as np
import torch
import torchaudio

from ser.data.audio import SAMPLE_RATE
from ser.utils import SerError


def fbank(wav: np.ndarray, num_mel_bins: int = 80) -> np.ndarray:
    x = torch.from_numpy(wav).unsqueeze(0) * 32768  # Kaldi works on 16-bit sample values
    return torchaudio.compliance.kaldi.fbank(
        x, num_mel_bins=num_mel_bins, sample_frequency=SAMPLE_RATE, dither=0.0, energy_floor=0.0
    ).numpy()


def mfcc(wav: np.ndarray, num_ceps: int = 13, deltas: bool = True) -> np.ndarray:
    x = torch.from_numpy(wav).unsqueeze(0) * 32768
    feats = torchaudio.compliance.kaldi.mfcc(
        x, num_ceps=num_ceps, sample_frequency=SAMPLE_RATE, dither=0.0, energy_floor=0.0
    )
    if deltas:
        d1 = torchaudio.functional.compute_deltas(feats.T.unsqueeze(0))
        d2 = torchaudio.functional.compute_deltas(d1)
        feats = torch.cat([feats, d1[0].T, d2[0].T], dim=1)
    return feats.numpy()


_MEL = {}


def log_mel(wav: np.ndarray, n_mels: int = 64) -> np.ndarray:
    if n_mels not in _MEL:
        _MEL[n_mels] = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=400, win_length=400, hop_length=160, n_mels=n_mels
        )
    spec = _MEL[n_mels](torch.from_numpy(wav))
    return torch.log(spec + 1e-6).T.numpy()


from ser.features.stf import stf  # noqa: E402  (short-term features, Kaldi frame grid)

EXTRACTORS = {"fbank": fbank, "mfcc": mfcc, "mel": log_mel, "stf": stf}


def get_extractor(kind: str, **kwargs):
    if kind not in EXTRACTORS:
        raise SerError(f"unknown feature kind '{kind}' (known: {', '.join(sorted(EXTRACTORS))})")
    fn = EXTRACTORS[kind]
    return lambda wav: fn(wav, **kwargs)
