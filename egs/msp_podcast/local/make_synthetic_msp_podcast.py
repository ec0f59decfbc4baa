#!/usr/bin/env python3
"""Writes a small SYNTHETIC corpus in the exact MSP-Podcast release layout, so every MSP-Podcast
recipe runs end to end (and in CI) without the licensed corpus:

    Audios/MSP-PODCAST_<podcast>_<segment>.wav      16 kHz 16-bit PCM
    Labels/labels_consensus.csv                     FileName, EmoClass, EmoAct, EmoVal, EmoDom,
                                                    SpkrID, Gender, Split_Set
    Transcripts/MSP-PODCAST_<podcast>_<segment>.txt one line of text

Partitions Train, Development, Test1 and Test2 with disjoint known speakers (as the release), every
class including O (other) and X (no agreement) in an imbalance close to the real corpus, and
utterances of Unknown speakers (mostly of Unknown gender too) in every partition. EmoAct/EmoVal/
EmoDom are on the corpus' 1..7 scale. Audio and text come from ser.data.synth (contempt, which it
has no profile for, uses its frustration voice). Its numbers say nothing about accuracy on real speech.

Usage: make_synthetic_msp_podcast.py --out DIR [--seed 0] [--num-utts 300]
"""

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if (ROOT / "ser").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a recipe without an installed package

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from ser.data import synth  # noqa: E402
from ser.utils import SerError, get_logger, run_main  # noqa: E402

log = get_logger("make_synthetic_msp_podcast")

SR = 16000
# Shares of the consensus labels, roughly those of MSP-Podcast: neutral and happy dominate, fear
# and disgust are rare, and many utterances have no agreement (X) or "other" (O).
LABEL_SHARES = {
    "N": 0.28,
    "H": 0.16,
    "X": 0.14,
    "A": 0.08,
    "S": 0.07,
    "C": 0.07,
    "O": 0.05,
    "U": 0.05,
    "D": 0.05,
    "F": 0.05,
}
SYNTH_EMOTION = {
    "A": "ang",
    "S": "sad",
    "H": "hap",
    "U": "sur",
    "F": "fea",
    "D": "dis",
    "C": "fru",
    "N": "neu",
    "O": "oth",
    "X": "xxx",
}
# (partition, share of utterances, known speakers)
PARTITIONS = (("Train", 0.58, 10), ("Development", 0.16, 4), ("Test1", 0.18, 4), ("Test2", 0.08, 2))
UNKNOWN_SHARE = 0.12  # utterances whose speaker is Unknown
UNKNOWN_GENDER_SHARE = 0.8  # of those, the ones whose gender is Unknown too
COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
README = """This is a SYNTHETIC corpus in the MSP-Podcast release layout, written by
make_synthetic_msp_podcast.py (seed {seed}). The audio is generated, not recorded: results on it say
nothing about real accuracy.
"""
WARNING = """
+----------------------------------------------------------------------------+
| WARNING: MSP_PODCAST is not set, so a SYNTHETIC corpus is being generated. |
| Its audio is made by ser.data.synth: it only checks that recipes run.      |
| Numbers obtained on it say NOTHING about accuracy on real speech.          |
| Set MSP_PODCAST in db.sh (or the environment) to use the real corpus.      |
+----------------------------------------------------------------------------+
"""


def label_deck(rng, n: int, minimum: int) -> list:
    """n labels in LABEL_SHARES proportions (largest remainder), each at least `minimum` times, shuffled."""
    labels = list(LABEL_SHARES)
    exact = np.array([LABEL_SHARES[lab] for lab in labels]) * n
    counts = np.maximum(np.floor(exact).astype(int), minimum)
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    for i in np.argsort(-(exact - np.floor(exact)))[: n - counts.sum()]:
        counts[i] += 1
    deck = [lab for lab, c in zip(labels, counts) for _ in range(c)]
    rng.shuffle(deck)
    return deck


def to_msp_scale(x: float) -> float:
    """synth's 1..5 scale -> MSP-Podcast's 1..7."""
    return 1.0 + (x - 1.0) * 1.5


def make_corpus(out, seed: int = 0, num_utts: int = 300) -> Path:
    if num_utts < 100:
        raise SerError(f"--num-utts must be at least 100 (every class in every partition), got {num_utts}")
    out = Path(out)
    for sub in ("Audios", "Labels", "Transcripts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, spk_id, podcast = [], 100, 1
    segment = {}  # podcast -> segments so far
    for part, share, n_spk in PARTITIONS:
        n = int(round(share * num_utts))
        deck = label_deck(rng, n, minimum=3 if part == "Train" else 1)
        speakers = []
        for _ in range(n_spk):
            gender = "f" if len(speakers) % 2 == 0 else "m"
            speakers.append((spk_id, podcast, synth.make_speaker(rng, str(spk_id), gender)))
            spk_id, podcast = spk_id + 1, podcast + 1
        for i, label in enumerate(deck):
            if rng.random() < UNKNOWN_SHARE:
                # An anonymous voice (e.g. a guest); it gets its own podcast numbers as in the release.
                gender = str(rng.choice(["m", "f"]))
                voice = synth.make_speaker(rng, "unknown", gender)
                spk, pod = "Unknown", 900 + int(rng.integers(0, 50))
                gender_col = "Unknown" if rng.random() < UNKNOWN_GENDER_SHARE else {"m": "Male", "f": "Female"}[gender]
            else:
                sid, pod, voice = speakers[i % n_spk]
                spk, gender_col = str(sid), {"m": "Male", "f": "Female"}[voice.gender]
            segment[pod] = segment.get(pod, 0) + 1
            stem = f"MSP-PODCAST_{pod:04d}_{segment[pod]:04d}"
            emotion = SYNTH_EMOTION[label]
            vad = synth.sample_vad(rng, emotion)
            wav = synth.synth_utterance(rng, voice, emotion, sr=SR, vad=vad)
            sf.write(out / "Audios" / f"{stem}.wav", wav, SR, subtype="PCM_16")
            (out / "Transcripts" / f"{stem}.txt").write_text(
                synth.make_transcript(rng, emotion) + "\n", encoding="utf-8"
            )
            v, a, d = (to_msp_scale(x) for x in vad)
            rows.append(
                {
                    "FileName": f"{stem}.wav",
                    "EmoClass": label,
                    "EmoAct": f"{a:.1f}",
                    "EmoVal": f"{v:.1f}",
                    "EmoDom": f"{d:.1f}",
                    "SpkrID": spk,
                    "Gender": gender_col,
                    "Split_Set": part,
                }
            )
    rows.sort(key=lambda r: r["FileName"])
    with open(out / "Labels" / "labels_consensus.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "README_SYNTHETIC.txt").write_text(README.format(seed=seed), encoding="utf-8")
    log.info("wrote %d synthetic utterances to %s", len(rows), out)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="corpus root to create (gets Audios/, Labels/, Transcripts/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-utts", type=int, default=300)
    args = parser.parse_args(argv)
    print(WARNING, file=sys.stderr, flush=True)
    make_corpus(args.out, args.seed, args.num_utts)


if __name__ == "__main__":
    run_main(main)
