#!/usr/bin/env python3
"""Writes a small SYNTHETIC corpus in the exact IEMOCAP release layout, so every IEMOCAP recipe
runs end to end (and in CI) without the licensed corpus:

    SessionN/dialog/EmoEvaluation/<dialog>.txt      labels and [V, A, D] per turn, annotator lines
    SessionN/dialog/transcriptions/<dialog>.txt     `<utt> [start-end]: text`, plus non-utterance lines
    SessionN/sentences/wav/<dialog>/<utt>.wav       16 kHz 16-bit PCM

5 sessions with one female and one male speaker each; improvised and scripted dialogs recorded with
either speaker wearing the markers (Ses01F_impro01, Ses01M_script01_1, ...). Labels include the ones
the usual 4-class protocol drops (fru, xxx, sur, fea, oth, dis). Audio comes from ser.data.synth.
Its numbers say nothing about accuracy on real speech.

Usage: make_synthetic_iemocap.py --out DIR [--seed 0] [--utts-per-dialog 20]
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if (ROOT / "ser").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a recipe without an installed package

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from ser.data import synth  # noqa: E402
from ser.utils import SerError, get_logger, run_main  # noqa: E402

log = get_logger("make_synthetic_iemocap")

SR = 16000
N_SESSIONS = 5
DIALOG_TYPES = ("impro01", "script01_1")
# Label shares close to the real corpus, where the 4-class subset (exc merged into hap) is ~55 %.
LABEL_SHARES = {
    "neu": 0.17,
    "fru": 0.16,
    "xxx": 0.16,
    "ang": 0.11,
    "sad": 0.11,
    "exc": 0.10,
    "hap": 0.08,
    "sur": 0.04,
    "fea": 0.03,
    "oth": 0.02,
    "dis": 0.02,
}
CORE_LABELS = ("neu", "hap", "exc", "ang", "sad")  # what the usual 4-class protocol keeps
CATEGORY_NAMES = {
    "neu": "Neutral",
    "hap": "Happiness",
    "exc": "Excited",
    "ang": "Anger",
    "sad": "Sadness",
    "fru": "Frustration",
    "sur": "Surprise",
    "fea": "Fear",
    "dis": "Disgust",
    "oth": "Other",
}
README = """This is a SYNTHETIC corpus in the IEMOCAP layout, written by make_synthetic_iemocap.py
(seed {seed}). The audio is generated, not recorded: results on it say nothing about real accuracy.
"""
WARNING = """
+------------------------------------------------------------------------+
| WARNING: IEMOCAP is not set, so a SYNTHETIC corpus is being generated. |
| Its audio is made by ser.data.synth: it only checks that recipes run.  |
| Numbers obtained on it say NOTHING about accuracy on real speech.      |
| Set IEMOCAP in db.sh (or the environment) to use the real corpus.      |
+------------------------------------------------------------------------+
"""


def label_deck(rng, n: int) -> list:
    """n labels in LABEL_SHARES proportions (largest remainder, every label at least once), shuffled,
    so even a small corpus holds every label the prep must keep or drop."""
    labels = list(LABEL_SHARES)
    exact = np.array([LABEL_SHARES[lab] for lab in labels]) * n
    counts = np.maximum(np.floor(exact).astype(int), 1)
    while counts.sum() > n:  # the minimum of one overshot: take from the most frequent
        counts[np.argmax(counts)] -= 1
    for i in np.argsort(-(exact - np.floor(exact)))[: n - counts.sum()]:
        counts[i] += 1
    deck = [lab for lab, c in zip(labels, counts) for _ in range(c)]
    rng.shuffle(deck)
    return deck


def spread_core_labels(labels: list, owners: list) -> None:
    """Swaps labels in place so every speaker has at least one label the 4-class protocol keeps:
    a speaker with none would leave a fold's test or valid set empty in a small corpus."""
    core = {i for i, lab in enumerate(labels) if lab in CORE_LABELS}
    for spk in sorted(set(owners)):
        mine = [i for i, o in enumerate(owners) if o == spk]
        if any(i in core for i in mine):
            continue
        per_owner = {o: [i for i in core if owners[i] == o] for o in set(owners)}
        donor = max(sorted(per_owner), key=lambda o: len(per_owner[o]))
        if len(per_owner[donor]) < 2:
            return  # too few core labels to go round
        give, take = min(per_owner[donor]), mine[0]
        labels[give], labels[take] = labels[take], labels[give]
        core = (core - {give}) | {take}


def annotator_lines(rng, label: str, vad_true, self_letter: str) -> tuple:
    """Evaluator lines as in the release, and the bracket [V, A, D]: the mean of the evaluators."""
    if label == "xxx":  # no majority: evaluators disagree
        names = [CATEGORY_NAMES[c] for c in rng.choice(["neu", "fru", "ang", "sad", "hap"], 3, replace=False)]
    else:
        other = CATEGORY_NAMES[str(rng.choice(["neu", "fru", "exc", "sad"]))]
        names = [CATEGORY_NAMES[label], CATEGORY_NAMES[label], other if rng.random() < 0.4 else CATEGORY_NAMES[label]]
    lines = [f"C-E{i}:\t{name};\t()" for i, name in enumerate(names, 1)]
    scores = np.clip(np.rint(np.asarray(vad_true) + rng.normal(0, 0.5, (2, 3))), 1, 5).astype(int)
    for i, (v, a, d) in enumerate(scores, 2):
        lines.append(f"A-E{i}:\tval {v}; act {a}; dom  {d};\t()")
    v, a, d = np.clip(np.rint(np.asarray(vad_true)), 1, 5).astype(int)
    lines.append(f"A-{self_letter}1:\tval {v}; act {a}; dom  {d};\t(self evaluation)")
    return lines, scores.mean(axis=0)


def write_dialog(rng, corpus: Path, session: int, dialog: str, turns: list, speakers: dict) -> None:
    """turns: (speaker letter F/M, label) per evaluated utterance, in dialog order."""
    sess_dir = corpus / f"Session{session}"
    wav_dir = sess_dir / "sentences" / "wav" / dialog
    wav_dir.mkdir(parents=True, exist_ok=True)
    emo = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    trans, cat = [], []
    counters = {"F": 0, "M": 0}
    t = float(rng.uniform(2, 8))
    for turn, label in turns:
        utt = f"{dialog}_{turn}{counters[turn]:03d}"
        counters[turn] += 1
        vad = synth.sample_vad(rng, label)
        wav = synth.synth_utterance(rng, speakers[turn], label, sr=SR, vad=vad)
        sf.write(wav_dir / f"{utt}.wav", wav, SR, subtype="PCM_16")
        start, end = t, t + len(wav) / SR
        lines, bracket = annotator_lines(rng, label, vad, turn)
        emo.append(f"[{start:.4f} - {end:.4f}]\t{utt}\t{label}\t[{bracket[0]:.4f}, {bracket[1]:.4f}, {bracket[2]:.4f}]")
        emo += lines + [""]
        trans.append(f"{utt} [{start:08.4f}-{end:08.4f}]: {synth.make_transcript(rng, label)}")
        cat.append(f"{utt} :{CATEGORY_NAMES.get(label, 'Other')}; ()")
        # The release also transcribes turns nobody evaluated (ids like ..._MXX0) and bare `M:` lines.
        if rng.random() < 0.15:
            trans.append(f"{dialog}_{turn}XX{counters[turn] % 10} [{end:08.4f}-{end + 0.5:08.4f}]: Mm-hmm.")
        t = end + float(rng.uniform(0.2, 1.5))
    trans.append("M: [BREATHING]")
    _write(sess_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt", emo)
    _write(sess_dir / "dialog" / "transcriptions" / f"{dialog}.txt", trans)
    # A per-evaluator file in a subfolder, as in the release; the prep must not read these.
    _write(sess_dir / "dialog" / "EmoEvaluation" / "Categorical" / f"{dialog}_e1_cat.txt", cat)


def _write(path: Path, lines: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_corpus(out, seed: int = 0, utts_per_dialog: int = 20) -> Path:
    """Generates the corpus into `out`; returns its path. Deterministic for a seed."""
    if utts_per_dialog < 2:
        raise SerError(f"--utts-per-dialog must be at least 2, got {utts_per_dialog}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dialogs = [(s, f"Ses{s:02d}{g}_{kind}") for s in range(1, N_SESSIONS + 1) for kind in DIALOG_TYPES for g in "FM"]
    # Speakers alternate, the first one drawn per dialog; labels are dealt from one corpus-wide deck.
    letters = []
    for _ in dialogs:
        first = int(rng.integers(0, 2))
        letters.append(["FM"[(first + j) % 2] for j in range(utts_per_dialog)])
    owners = [f"{session}{g}" for (session, _), row in zip(dialogs, letters) for g in row]
    deck = label_deck(rng, len(owners))
    spread_core_labels(deck, owners)
    speakers = {}
    for s in range(1, N_SESSIONS + 1):
        speakers[s] = {g: synth.make_speaker(rng, f"Ses{s:02d}{g}", g.lower()) for g in "FM"}
    for i, (session, dialog) in enumerate(dialogs):
        labels = deck[i * utts_per_dialog : (i + 1) * utts_per_dialog]
        write_dialog(rng, out, session, dialog, list(zip(letters[i], labels)), speakers[session])
    (out / "README_SYNTHETIC.txt").write_text(README.format(seed=seed), encoding="utf-8")
    log.info("wrote %d synthetic utterances in %d dialogs to %s", len(deck), len(dialogs), out)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="corpus root to create (gets Session1..Session5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--utts-per-dialog", type=int, default=20, help="20 dialogs, so 20 gives 400 utterances")
    args = parser.parse_args(argv)
    print(WARNING, file=sys.stderr, flush=True)
    make_corpus(args.out, args.seed, args.utts_per_dialog)


if __name__ == "__main__":
    run_main(main)
