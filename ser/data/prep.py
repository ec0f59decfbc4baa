"""What every corpus's data prep shares, so that a corpus's own program is only its naming scheme,
label map, speaker table and fold table (egs/ravdess/local/prepare_ravdess.py is the example):

- `scan_release`: the audio files of a release whose speaker folders and file names carry the
  labels; a file that breaks the naming scheme is reported with the reason and left out, hidden
  files (`.DS_Store`, `._x.wav`) are skipped, the same utterance twice is an error;
- `build_datadir`: the Kaldi data dir of those utterances, with `utt2dur` read from the audio;
- `one_per_gender`: seeded draws of validation speakers among training speakers;
- `write_folds` (ser.data.folds): speaker-independent folds, stale folds removed;
- `write_ignored`, `prep_arg_parser`: the report of files not taken and the usual options.
"""

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from ser.data.audio_check import read_durations
from ser.data.datadir import DataDir
from ser.utils import SerError, get_logger, write_text_atomic

log = get_logger("prep")

AUDIO_EXTS = (".wav", ".flac")


def scan_release(
    root, folder: str, folder_name: str, parse: Callable, corpus: str, layout: str, exts=AUDIO_EXTS
) -> tuple:
    """(records, ignored) of the files in root's folders whose name matches the regex `folder`
    (`folder_name` in messages, e.g. "Actor_XX").

    `parse(path, folder_match)` returns one utterance's record, a dict of data-dir fields
    (`utt` plus e.g. `wav.scp`, `utt2spk`, `utt2emo`), or raises SerError saying what in the name
    breaks the scheme. `ignored` lists (path, reason) for every entry not taken. `corpus` and
    `layout` name the corpus and its expected layout in errors (e.g. "RAVDESS", "the folder
    holding Actor_01..Actor_24")."""
    if not str(root).strip():
        raise SerError(f"{corpus} corpus path is empty: set {corpus_var(corpus)} in db.sh or the environment")
    root = Path(root)
    if not root.is_dir():
        raise SerError(
            f"{corpus} corpus directory not found: '{root}'. Set {corpus_var(corpus)} in db.sh or the "
            f"environment to {layout}"
        )
    pattern, folders, ignored = re.compile(folder), [], []
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            continue
        m = pattern.match(p.name)
        if p.is_dir() and m:
            folders.append((p, m))
        else:
            ignored.append(
                (p, f"not an {folder_name} folder" if folder_name[0] in "AEIOU" else f"not a {folder_name} folder")
            )
    if not folders:
        raise SerError(f"{root}: no {folder_name} folders; is this {layout}?")
    records, seen = [], {}
    for path, m in folders:
        for p in sorted(path.iterdir()):
            if p.name.startswith("."):
                continue  # macOS resource forks and the like, not data
            if p.is_dir():
                ignored.append((p, "unexpected folder"))
                continue
            try:
                if p.suffix.lower() not in exts:
                    raise SerError(f"not an audio file ({'/'.join(exts)})")
                rec = parse(p, m)
            except SerError as e:
                ignored.append((p, str(e)))
                continue
            if rec["utt"] in seen:
                raise SerError(f"utterance {p.stem} of {path} exists twice: {seen[rec['utt']]} and {p}; keep one")
            seen[rec["utt"]] = p
            records.append(rec)
    if not records:
        raise SerError(
            f"{root}: no file follows the {corpus} naming scheme ({len(ignored)} files ignored, "
            f"e.g. {ignored[0][0] if ignored else '-'})"
        )
    return records, ignored


def corpus_var(corpus: str) -> str:
    """The db.sh variable of a corpus: RAVDESS, MSP_PODCAST, ..."""
    return re.sub(r"\W", "_", corpus).upper()


def build_datadir(records: list, fields: tuple, durations: bool = True, report_dir=None) -> DataDir:
    """The data dir of `records` (dicts with `utt` and every name in `fields`), plus `utt2dur`
    read from each wav.scp entry when `durations` (every unreadable file listed at once, short
    clips flagged: ser.data.audio_check)."""
    out = {name: {} for name in fields}
    for r in records:
        for name in fields:
            out[name][r["utt"]] = r[name]
    if durations:
        dur = read_durations(((r["utt"], r["wav.scp"], "") for r in records), report_dir)
        out["utt2dur"] = {u: f"{dur[u]:.4f}" for u in out["wav.scp"]}
    return DataDir(fields=out)


def one_per_gender(candidates, gender_of: Callable, rng) -> list:
    """One speaker of each gender (m, then f) drawn from `candidates` by `rng`; none for a gender
    that has no candidate."""
    chosen = []
    for g in ("m", "f"):
        pool = sorted(c for c in candidates if gender_of(c) == g)
        if pool:
            chosen.append(rng.choice(pool))
    return chosen


def write_ignored(out, ignored: list) -> Path:
    """<out>/local/ignored_files.txt: every file not taken and why (also logged)."""
    path = Path(out) / "local" / "ignored_files.txt"
    write_text_atomic(path, "".join(f"{p}\t{why}\n" for p, why in ignored))
    for p, why in ignored:
        log.warning("ignored %s: %s", p, why)
    return path


def parse_schemes(spec: str, known) -> list:
    schemes = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [s for s in schemes if s not in known]
    if bad or not schemes:
        raise SerError(f"--schemes '{spec}': unknown {bad} (known: {', '.join(known)})")
    return schemes


def prep_arg_parser(description: str, corpus_help: str, schemes) -> argparse.ArgumentParser:
    """--corpus, --out (data), --schemes (all of `schemes`), --seed (0)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--corpus", required=True, help=corpus_help)
    ap.add_argument("--out", default="data", help="output root (default: data)")
    ap.add_argument(
        "--schemes", default=",".join(schemes), help=f"fold schemes, any of {', '.join(schemes)} (default: %(default)s)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seeds the draws of validation speakers (default: 0)")
    return ap
