"""What ser-infer reads: audio files, directories of them, Kaldi wav.scp lists; and the windows a
long recording is cut into. A missing or unusable input becomes an error for its own row."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser.data.audio import SAMPLE_RATE, load_audio
from ser.data.datadir import read_kv
from ser.utils import SerError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".sph", ".w64", ".caf")


@dataclass
class Input:
    name: str  # the row's id: the path given or found, or the wav.scp utterance id
    spec: str  # what load_audio reads (a path or a Kaldi pipe)
    error: str | None = None


def gather_inputs(paths: list[str]) -> list[Input]:
    """Files as given; a directory's audio files (by extension, recursively, sorted); every entry
    of a file named *.scp."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                out.append(Input(p, p, f"directory {p} holds no audio file ({', '.join(AUDIO_EXTENSIONS)})"))
            out += [Input(str(f), str(f)) for f in found]
        elif path.suffix == ".scp" and path.is_file():
            try:
                out += [Input(utt, spec) for utt, spec in read_kv(path).items()]
            except SerError as e:
                out.append(Input(p, p, str(e)))
        elif path.is_file():
            out.append(Input(p, p))
        else:
            out.append(Input(p, p, f"{p}: no such file or directory"))
    return out


def read_input(item: Input, min_seconds: float) -> np.ndarray:
    """16 kHz mono samples; SerError naming the file when unreadable, empty or too short."""
    if item.error:
        raise SerError(item.error)
    wav = load_audio(item.spec, SAMPLE_RATE)
    seconds = len(wav) / SAMPLE_RATE
    if seconds < min_seconds:
        raise SerError(f"audio '{item.spec}' is too short: {seconds:.3f} s, below --min-seconds {min_seconds:g}")
    if not np.isfinite(wav).all():
        raise SerError(f"audio '{item.spec}' holds NaN or infinite samples")
    return wav


def windows(num_samples: int, size_seconds: float, hop_seconds: float) -> list[tuple[int, int]]:
    """(start, end) sample spans of `size_seconds` every `hop_seconds`, the last one ending at the
    recording's end so its tail is covered; one span of the whole when it fits in one window
    (or `size_seconds` is 0)."""
    size, hop = int(round(size_seconds * SAMPLE_RATE)), int(round(hop_seconds * SAMPLE_RATE))
    if size <= 0 or num_samples <= size:
        return [(0, num_samples)]
    if hop <= 0:
        raise SerError(f"--hop {hop_seconds:g}: must be positive")
    spans = [(s, s + size) for s in range(0, num_samples - size + 1, hop)]
    if spans[-1][1] < num_samples:
        spans.append((num_samples - size, num_samples))
    return spans
