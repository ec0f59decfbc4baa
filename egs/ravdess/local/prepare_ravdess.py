#!/usr/bin/env python3
"""RAVDESS data prep shared by every RAVDESS recipe: the release layout -> Kaldi data dirs and folds.

Reads the speech part of the release (Audio_Speech_Actors_01-24):
    Actor_XX/03-01-EE-II-SS-RR-AA.wav     (48 kHz in the release; any rate and .flac are accepted)
and writes
    <out>/all/{wav.scp,utt2spk,text,utt2emo,utt2gender,utt2intensity,utt2dur,spk2utt}
    <out>/folds/<scheme>/fold<k>/{train,valid,test}/
    <out>/local/ignored_files.txt          every file that was not taken, and why

File name fields: modality (03 audio-only), vocal channel (01 speech), EE emotion, II intensity
(01 normal, 02 strong), SS statement, RR repetition, AA actor (odd male, even female). A file whose
name breaks this scheme (a typo, a song or video file, an actor number that differs from its folder,
a "strong" neutral, which the corpus does not have) is listed in the report and left out; hidden
files (`.DS_Store`, `._x.wav`) are skipped silently.

Speakers are `Actor_XX` and utterance ids `Actor_XX_<file stem>`, so utterances sort by speaker.

Schemes (speaker-independent, model selection included: valid actors come from training actors):
    emobox   EmoBox's 4 folds; fold k tests actors 01 11 20 21 / 04 10 12 14 / 08 09 19 23 /
             03 05 07 24, the 8 other actors always train. Valid: one male and one female actor
             drawn (seeded by --seed and k) from those 8 always-train actors, so train has 18 actors.
             On a partial copy a fold whose test actors are all absent is left out (with a warning);
             the remaining folds keep their EmoBox numbers.
    speaker  leave one actor out, 24 folds; fold k tests actor k and validates on the next two
             actors (k+1, k+2 cyclically: one male and one female).
    emobox_dev  for choosing a system without EmoBox's test actors: fold k tests emobox fold k's two
             valid actors and trains on the rest of its 20 training actors (valid: another male and
             female of them), so no emobox fold k test actor is in emobox_dev fold k at all.

Usage: prepare_ravdess.py --corpus DIR --out data [--schemes emobox,speaker,emobox_dev] [--seed 0]
"""

import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if (ROOT / "ser").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a recipe without an installed package

from ser.data.datadir import DataDir  # noqa: E402
from ser.data.folds import Fold, write_folds  # noqa: E402
from ser.data.prep import build_datadir, one_per_gender, parse_schemes, prep_arg_parser, scan_release, write_ignored  # noqa: E402
from ser.utils import SerError, get_logger, run_main  # noqa: E402

log = get_logger("prepare_ravdess")

# Emotion codes of the file names -> the labels written to utt2emo (IEMOCAP's names where shared).
EMOTIONS = {"01": "neu", "02": "cal", "03": "hap", "04": "sad", "05": "ang", "06": "fea", "07": "dis", "08": "sur"}
CLASSES = tuple(EMOTIONS.values())
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
SCHEMES = ("emobox", "speaker", "emobox_dev")
EMOBOX_TEST = (("01", "11", "20", "21"), ("04", "10", "12", "14"), ("08", "09", "19", "23"), ("03", "05", "07", "24"))
EMOBOX_ALWAYS_TRAIN = tuple(sorted({f"{a:02d}" for a in range(1, 25)} - {a for f in EMOBOX_TEST for a in f}))

ACTOR_DIR = r"^Actor_(\d\d)$"
# Seven two-digit fields; checked field by field below so the report says which one is wrong.
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
FIELDS = ("wav.scp", "utt2spk", "text", "utt2emo", "utt2gender", "utt2intensity")


def speaker(actor: str) -> str:
    return f"Actor_{actor}"


def gender(actor: str) -> str:
    return "m" if int(actor) % 2 else "f"


def parse_name(path: Path, folder: re.Match) -> dict:
    """One utterance's data-dir fields from its file name; SerError saying what is wrong when the
    name breaks the scheme."""
    folder_actor = folder.group(1)
    m = NAME.match(path.stem)
    if not m:
        raise SerError("name is not 03-01-EE-II-SS-RR-AA (seven two-digit fields)")
    modality, channel, emo, intensity, statement, rep, actor = m.groups()
    problems = []
    if modality != "03":
        problems.append(f"modality {modality} is not 03 (audio-only)")
    if channel != "01":
        problems.append(f"vocal channel {channel} is not 01 (speech; 02 is song)")
    if emo not in EMOTIONS:
        problems.append(f"emotion {emo} is not 01..08")
    if intensity not in INTENSITIES:
        problems.append(f"intensity {intensity} is not 01 or 02")
    elif emo == "01" and intensity == "02":
        problems.append("neutral has no strong intensity in RAVDESS")
    if statement not in STATEMENTS:
        problems.append(f"statement {statement} is not 01 or 02")
    if rep not in ("01", "02"):
        problems.append(f"repetition {rep} is not 01 or 02")
    if not 1 <= int(actor) <= 24:
        problems.append(f"actor {actor} is not 01..24")
    elif actor != folder_actor:
        problems.append(f"actor {actor} differs from its folder Actor_{folder_actor}")
    if problems:
        raise SerError("; ".join(problems))
    return {
        "utt": f"{speaker(actor)}_{path.stem}",
        "wav.scp": str(path),
        "utt2spk": speaker(actor),
        "text": STATEMENTS[statement],
        "utt2emo": EMOTIONS[emo],
        "utt2gender": gender(actor),
        "utt2intensity": INTENSITIES[intensity],
    }


# ---- folds ---------------------------------------------------------------------------------------------


def emobox_folds(actors, seed: int = 0) -> dict:
    """{EmoBox fold number: Fold}; folds whose test actors are all absent are left out."""
    actors = set(actors)
    folds = {}
    for k, test in enumerate(EMOBOX_TEST, 1):
        present = [a for a in test if a in actors]
        if not present:
            log.warning("emobox fold%d left out: none of its test actors %s is in the corpus", k, " ".join(test))
            continue
        valid = _valid_pair(actors - set(test), random.Random(f"ravdess-emobox-valid-{seed}-{k}"))
        folds[k] = Fold(
            test_spks=tuple(speaker(a) for a in present), valid_spks=tuple(speaker(a) for a in sorted(valid))
        )
    return folds


def _valid_pair(train: set, rng) -> list:
    """One male and one female actor of `train`: the always-train actors first, on a partial copy
    this fold's other training actors."""
    valid = one_per_gender(train & set(EMOBOX_ALWAYS_TRAIN), gender, rng)
    for a in one_per_gender(train - set(EMOBOX_ALWAYS_TRAIN), gender, rng):
        if gender(a) not in {gender(v) for v in valid}:
            valid.append(a)
    return valid


def emobox_dev_folds(actors, seed: int = 0) -> dict:
    """{k: Fold} testing emobox fold k's valid actors on models of the rest of its training actors:
    a development set inside each fold's training actors, for choices that must not see a test actor."""
    folds = {}
    for k, outer in emobox_folds(actors, seed).items():
        held_out = {s.removeprefix("Actor_") for s in outer.test_spks + outer.valid_spks}
        valid = _valid_pair(set(actors) - held_out, random.Random(f"ravdess-emobox-dev-valid-{seed}-{k}"))
        if not valid or not set(actors) - held_out - set(valid):
            log.warning("emobox_dev fold%d left out: too few training actors for a train and a valid set", k)
            continue
        folds[k] = Fold(
            test_spks=outer.valid_spks,
            valid_spks=tuple(speaker(a) for a in sorted(valid)),
            excluded_spks=outer.test_spks,
        )
    return folds


def speaker_folds(actors, seed: int = 0) -> dict:
    """Fold k tests actor k; valid are the next two actors present (cyclic), one of each gender."""
    actors = sorted(actors)
    folds = {}
    for i, a in enumerate(actors):
        nxt = [actors[(i + j) % len(actors)] for j in range(1, len(actors))]
        valid = []
        for g in ("m", "f"):
            valid += [b for b in nxt if gender(b) == g][:1]
        folds[int(a)] = Fold(test_spks=(speaker(a),), valid_spks=tuple(speaker(b) for b in sorted(valid)))
    return folds


FOLD_MAKERS = {"emobox": emobox_folds, "speaker": speaker_folds, "emobox_dev": emobox_dev_folds}


# ---- main ----------------------------------------------------------------------------------------------


def prepare(corpus, out, schemes="emobox,speaker,emobox_dev", seed: int = 0) -> dict:
    """Writes <out>/all, <out>/folds/<scheme> and <out>/local/ignored_files.txt.

    Returns {'dd': DataDir, 'ignored': [(path, reason)], 'sizes': {scheme: {fold: {split: n}}}}.
    """
    scheme_list = parse_schemes(schemes, SCHEMES)
    corpus = Path(corpus).absolute() if str(corpus).strip() else corpus
    out = Path(out)
    utts, ignored = scan_release(
        corpus, ACTOR_DIR, "Actor_XX", parse_name, "RAVDESS", "the folder holding Actor_01..Actor_24"
    )
    write_ignored(out, ignored)
    dd = build_datadir(utts, FIELDS, report_dir=out / "local")
    dd.write(out / "all")
    actors = sorted({u["utt2spk"].removeprefix("Actor_") for u in utts})
    sizes = {}
    for scheme in scheme_list:
        folds = FOLD_MAKERS[scheme](actors, seed)
        sizes[scheme] = dict(zip(sorted(folds), write_folds(dd, out / "folds", scheme, folds)))
    report(dd, actors, ignored, sizes, out)
    return {"dd": dd, "ignored": ignored, "sizes": sizes}


def report(dd: DataDir, actors: list, ignored: list, sizes: dict, out: Path) -> None:
    counts = Counter(dd.get("utt2emo").values())
    print(f"RAVDESS: {len(dd)} utterances of {len(actors)} actors -> {out}/all")
    print("  per class: " + ", ".join(f"{c} {counts.get(c, 0)}" for c in CLASSES))
    if ignored:
        print(f"  {len(ignored)} files NOT taken (name breaks the RAVDESS scheme): see {out}/local/ignored_files.txt")
    missing = sorted({f"{a:02d}" for a in range(1, 25)} - set(actors))
    if missing:
        print(f"  partial corpus: actors {' '.join(missing)} are absent")
    if "emobox" in sizes:
        print("  emobox folds, test sizes: " + " ".join(f"fold{k}={s['test']}" for k, s in sizes["emobox"].items()))


def main(argv=None) -> None:
    args = prep_arg_parser(
        "RAVDESS speech release -> Kaldi data dirs and speaker-independent folds",
        "folder holding Actor_01..Actor_24",
        SCHEMES,
    ).parse_args(argv)
    prepare(args.corpus, args.out, args.schemes, args.seed)


if __name__ == "__main__":
    run_main(main)
