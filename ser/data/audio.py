"""Audio loading through soundfile: mono, resampled to the target rate, errors that name the file."""

import io
import subprocess

import numpy as np
import soundfile as sf
import torch
import torchaudio

from ser.utils import SerError

SAMPLE_RATE = 16000


def _read(spec: str):
    # A wav.scp entry is a path, or a Kaldi-style pipe `command |` that writes audio to stdout.
    if spec.endswith("|"):
        proc = subprocess.run(spec[:-1], shell=True, capture_output=True)
        if proc.returncode != 0:
            raise SerError(f"audio pipe '{spec}' failed: {proc.stderr.decode(errors='replace').strip()}")
        return sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    return sf.read(spec, dtype="float32", always_2d=True)


def load_audio(spec: str, sample_rate: int = SAMPLE_RATE, utt: str | None = None) -> np.ndarray:
    """Returns float32 mono samples at `sample_rate`."""
    try:
        wav, sr = _read(spec)
    except SerError:
        raise
    except Exception as e:  # soundfile raises several types; the user needs the file name
        who = f" (utterance {utt})" if utt else ""
        raise SerError(f"cannot read audio '{spec}'{who}: {e}") from e
    if wav.shape[0] == 0:
        raise SerError(f"audio '{spec}' is empty")
    bad = ~np.isfinite(wav)
    if bad.any():  # a float file may hold NaN/inf; every feature and posterior after it would be NaN
        who = f" (utterance {utt})" if utt else ""
        first = int(np.argwhere(bad)[0][0])
        raise SerError(
            f"audio '{spec}'{who} has {int(bad.any(axis=1).sum())} non-finite samples (NaN or inf; the first at "
            f"{first / sr:.3f} s): fix the file or leave the utterance out"
        )
    wav = wav.mean(axis=1) if wav.shape[1] > 1 else wav[:, 0]
    if sr != sample_rate:
        wav = torchaudio.functional.resample(torch.from_numpy(wav), sr, sample_rate).numpy()
    return np.ascontiguousarray(wav, dtype=np.float32)


def audio_duration(spec: str) -> float:
    try:
        info = sf.info(spec)
    except Exception as e:
        raise SerError(f"cannot read audio '{spec}': {e}") from e
    return info.frames / info.samplerate
