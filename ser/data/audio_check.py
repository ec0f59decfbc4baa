"""Durations of a corpus's audio, read in one pass that reports every bad file at once (a prep that
stopped at the first one took three runs for three bad files), and flags clips too short for the
models: a 50 ms clip gave feature values of 9537 where about 7 is usual, as a few frames are all the
statistics and padding of the front ends have to work with."""

import sys
from pathlib import Path

from ser.utils import SerError, get_logger, progress, write_text_atomic

log = get_logger("prep")

# The shortest clip kept without a warning: HuBERT/wav2vec 2.0 give 1 frame per 20 ms after a 25 ms
# receptive field, Whisper and fbank 1 per 10-20 ms; at 0.25 s every front end here has >= 12 frames.
MIN_SECONDS = 0.25
MAX_LISTED = 20


def read_durations(items, report_dir=None) -> dict:
    """items: (utt, audio path, where) -> {utt: seconds}. Raises once, listing every missing or
    unreadable file; warns about clips shorter than MIN_SECONDS and, with `report_dir`, lists them
    in <report_dir>/short_clips.txt."""
    import soundfile as sf

    durations, bad, short = {}, [], []
    for utt, path, where in progress(list(items), desc="utt2dur", unit="utt", file=sys.stderr):
        path = Path(path)
        try:
            if not path.is_file():
                raise FileNotFoundError("missing")
            info = sf.info(str(path))
            if info.frames == 0:
                raise ValueError("no samples")
        except Exception as e:  # soundfile raises several types; every file is reported
            bad.append(f"{where + ': ' if where else ''}{path} (utterance {utt}): {e}")
            continue
        durations[utt] = info.frames / info.samplerate
        if durations[utt] < MIN_SECONDS:
            short.append((utt, path, durations[utt]))
    if bad:
        more = f"\n  ... and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        listed = "\n  ".join(bad[:MAX_LISTED]) + more
        raise SerError(f"{len(bad)} audio files are missing or unreadable:\n  {listed}")
    if short:
        lines = "".join(f"{u}\t{p}\t{d:.3f}\n" for u, p, d in short)
        where = ""
        if report_dir is not None:
            write_text_atomic(Path(report_dir) / "short_clips.txt", lines)
            where = f" (listed in {Path(report_dir) / 'short_clips.txt'})"
        log.warning(
            "%d clips are shorter than %.2f s, too short for reliable features%s: %s; consider leaving them out",
            len(short), MIN_SECONDS, where, ", ".join(f"{u} ({d:.3f} s)" for u, _, d in short[:MAX_LISTED]),
        )  # fmt: skip
    return durations
