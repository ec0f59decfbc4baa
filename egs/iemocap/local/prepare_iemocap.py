#!/usr/bin/env python3
"""IEMOCAP data prep shared by every IEMOCAP recipe: the release layout -> Kaldi data dirs and folds.

Reads every improvised and scripted dialog of the release (IEMOCAP_full_release):
    SessionN/dialog/EmoEvaluation/<dialog>.txt     one `[start - end] <utt> <label> [V, A, D]` per turn
    SessionN/dialog/transcriptions/<dialog>.txt    `<utt> [start-end]: text`
    SessionN/sentences/wav/<dialog>/<utt>.wav
and writes
    <out>/all/{wav.scp,utt2spk,text,utt2emo,utt2gender,utt2vad,utt2dur,spk2utt}
    <out>/folds/<scheme>/fold<k>/{train,valid,test}/

Labels are first mapped (--map, default exc:hap) and then filtered (--classes, default
neu,hap,ang,sad): the usual 4-class protocol with excitement merged into happiness. utt2vad holds
valence arousal dominance in the order of the bracket. The speaker is the session plus the gender
letter starting the last field of the utterance id (Ses01F_impro01_M013 -> Ses01M, m): the letter in
the dialog name is who wore the markers, not who speaks.

Schemes (all speaker-independent, including model selection):
    session  5 folds: test = session k; valid = one speaker of the next session ((k mod 5) + 1),
             female for odd k and male for even k, so no validation speaker is ever a test speaker
             and early stopping does not reward fitting the speakers being tested.
    speaker  10 folds in the order Ses01F, Ses01M, Ses02F, ...: test = one speaker,
             valid = the other speaker of the same session.

Usage: prepare_iemocap.py --corpus DIR --out data [--classes neu,hap,ang,sad] [--map exc:hap]
                          [--schemes session,speaker]
"""

import argparse
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if (ROOT / "ser").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a recipe without an installed package


from ser.data.audio_check import read_durations  # noqa: E402
from ser.data.datadir import DataDir  # noqa: E402
from ser.data.folds import Fold, write_folds  # noqa: E402
from ser.utils import SerError, get_logger, run_main  # noqa: E402

log = get_logger("prepare_iemocap")

LABELS = ("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth", "xxx")
SCHEMES = ("session", "speaker")
DEFAULT_CLASSES = "neu,hap,ang,sad"
DEFAULT_MAP = "exc:hap"

# `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`
_NUM = r"[-+]?\d+(?:\.\d*)?"
EMO_LINE = re.compile(
    rf"^\[\s*({_NUM})\s*-\s*({_NUM})\s*\]\s+(\S+)\s+(\S+)\s+\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]\s*$"
)
# Lines that mention a turn name are meant as utterance lines even when malformed.
TURN_NAME = re.compile(r"Ses\d\d[FM]_\S+_[FM]\d+")
UTT_ID = re.compile(r"^Ses(\d\d)[FM]_\S+_([FM])[^_]*$")
# `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`; other lines (`M: ...`) are not utterances.
TRANS_LINE = re.compile(rf"^(\S+)\s+\[\s*{_NUM}\s*-\s*{_NUM}\s*\]:\s?(.*)$")


@dataclass(frozen=True)
class Utterance:
    utt: str
    emotion: str
    vad: tuple  # (valence, arousal, dominance), as in the bracket
    where: str  # `file:line` of its EmoEvaluation entry, for error messages


# ---- parsing -----------------------------------------------------------------------------------------


def find_sessions(corpus: Path) -> list:
    if not corpus.is_dir():
        raise SerError(
            f"IEMOCAP corpus directory not found: '{corpus}'. Set IEMOCAP in db.sh or the environment "
            "to the folder holding Session1..Session5 (IEMOCAP_full_release)"
        )
    sessions = sorted(
        (p for p in corpus.glob("Session*") if p.is_dir() and p.name[7:].isdigit()), key=lambda p: int(p.name[7:])
    )
    if not sessions:
        raise SerError(f"{corpus}: no Session1..Session5 folders; is this the IEMOCAP_full_release folder?")
    return sessions


def _visible_txt(folder: Path) -> list:
    # Copies made on macOS carry `._<name>` resource-fork files that are not text.
    return sorted(p for p in folder.glob("*.txt") if p.is_file() and not p.name.startswith("."))


def parse_emo_file(path: Path) -> list:
    """Utterance lines of one EmoEvaluation file; evaluator lines (`C-E2:`, `A-E3:`) are skipped."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.startswith("[") and not TURN_NAME.search(line.split(":", 1)[0]):
                continue
            out.append(parse_emo_line(line, f"{path}:{n}"))
    return out


def parse_emo_line(line: str, where: str) -> Utterance:
    m = EMO_LINE.match(line)
    if not m:
        raise SerError(
            f"{where}: cannot parse EmoEvaluation line (expected "
            f"'[start - end]<TAB>utt<TAB>label<TAB>[V, A, D]'): {line!r}"
        )
    utt, emotion = m.group(3), m.group(4)
    if emotion not in LABELS:
        raise SerError(f"{where}: unknown emotion label '{emotion}' (known: {', '.join(LABELS)})")
    if not UTT_ID.match(utt):
        raise SerError(f"{where}: utterance id '{utt}' does not look like SesNN[FM]_<dialog>_[FM]NNN")
    return Utterance(utt, emotion, tuple(float(m.group(i)) for i in (5, 6, 7)), where)


def parse_transcription_file(path: Path) -> dict:
    texts = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = TRANS_LINE.match(line.strip())
            if m:
                texts[m.group(1)] = " ".join(m.group(2).split())
    return texts


def read_corpus(corpus: Path) -> tuple:
    """All evaluated utterances (improvised and scripted) and the transcriptions of every session."""
    utts, texts, seen = [], {}, {}
    for sess in find_sessions(corpus):
        emo_dir = sess / "dialog" / "EmoEvaluation"
        files = _visible_txt(emo_dir) if emo_dir.is_dir() else []
        if not files:
            raise SerError(f"{sess}: no EmoEvaluation files in {emo_dir}")
        for path in files:
            for u in parse_emo_file(path):
                if u.utt in seen:
                    raise SerError(f"{u.where}: utterance '{u.utt}' was already listed at {seen[u.utt]}")
                seen[u.utt] = u.where
                utts.append(u)
        trans_dir = sess / "dialog" / "transcriptions"
        for path in _visible_txt(trans_dir) if trans_dir.is_dir() else []:
            texts.update(parse_transcription_file(path))
    return utts, texts


# ---- labels, speakers, paths --------------------------------------------------------------------------


def parse_map(spec: str) -> dict:
    """`exc:hap,sur:hap` -> {'exc': 'hap', 'sur': 'hap'}; '' -> {}."""
    mapping = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        src, sep, dst = item.partition(":")
        if not sep or src not in LABELS or dst not in LABELS:
            raise SerError(f"--map item '{item}' must be label:label with labels from {', '.join(LABELS)}")
        mapping[src] = dst
    return mapping


def parse_classes(spec: str, mapping: dict) -> list:
    classes = [c.strip() for c in spec.split(",") if c.strip()]
    bad = [c for c in classes if c not in LABELS]
    if bad or not classes:
        raise SerError(f"--classes '{spec}': unknown labels {bad} (known: {', '.join(LABELS)})")
    lost = [f"{s}:{d}" for s, d in mapping.items() if d not in classes]
    if lost:
        raise SerError(f"--map {','.join(lost)} maps to labels not in --classes {','.join(classes)}")
    for c in classes:
        if c in mapping:
            log.warning("class '%s' will be empty: --map renames it to '%s'", c, mapping[c])
    return classes


def speaker_of(utt: str) -> tuple:
    """(speaker, gender): session + the gender letter that starts the last field of the id."""
    m = UTT_ID.match(utt)
    if not m:
        raise SerError(f"utterance id '{utt}' does not look like SesNN[FM]_<dialog>_[FM]NNN")
    return f"Ses{m.group(1)}{m.group(2)}", m.group(2).lower()


def wav_path(corpus: Path, utt: str) -> Path:
    session = int(utt[3:5])
    dialog = utt.rsplit("_", 1)[0]
    return corpus / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt}.wav"


def build_datadir(corpus: Path, utts: list, texts: dict, classes: list, mapping: dict, report_dir=None) -> DataDir:
    fields = {name: {} for name in ("wav.scp", "utt2spk", "text", "utt2emo", "utt2gender", "utt2vad", "utt2dur")}
    kept = [u for u in utts if mapping.get(u.emotion, u.emotion) in classes]
    if not kept:
        raise SerError(f"{corpus}: no utterance has a label in --classes {','.join(classes)}")
    for u in kept:
        wav = wav_path(corpus, u.utt)
        if u.utt not in texts:
            raise SerError(
                f"{u.where}: utterance '{u.utt}' has no line in "
                f"{corpus}/Session{int(u.utt[3:5])}/dialog/transcriptions/"
            )
        spk, gender = speaker_of(u.utt)
        fields["wav.scp"][u.utt] = str(wav)
        fields["utt2spk"][u.utt] = spk
        # Kaldi text needs a value; a turn transcribed as nothing keeps a visible placeholder.
        fields["text"][u.utt] = texts[u.utt] or "<unk>"
        fields["utt2emo"][u.utt] = mapping.get(u.emotion, u.emotion)
        fields["utt2gender"][u.utt] = gender
        fields["utt2vad"][u.utt] = " ".join(f"{x:.4f}" for x in u.vad)
    # every missing or unreadable wav at once; short clips flagged
    dur = read_durations(((u.utt, wav_path(corpus, u.utt), u.where) for u in kept), report_dir)
    fields["utt2dur"] = {u: f"{d:.4f}" for u, d in dur.items()}
    return DataDir(fields=fields)


# ---- folds ---------------------------------------------------------------------------------------------


def session_folds(speakers) -> list:
    """Fold k tests session k; valid is the next session's female (k odd) or male (k even) speaker."""
    sessions = sorted({s[:5] for s in speakers})
    folds = []
    for k, sess in enumerate(sessions, 1):
        nxt = sessions[k % len(sessions)]
        folds.append(Fold(test_spks=(f"{sess}F", f"{sess}M"), valid_spks=(f"{nxt}{'F' if k % 2 else 'M'}",)))
    return folds


def speaker_folds(speakers) -> list:
    """One fold per speaker (Ses01F, Ses01M, Ses02F, ...); valid is the same session's other speaker."""
    other = {"F": "M", "M": "F"}
    return [Fold(test_spks=(s,), valid_spks=(s[:5] + other[s[5]],)) for s in sorted(speakers)]


FOLD_MAKERS = {"session": session_folds, "speaker": speaker_folds}


def parse_schemes(spec: str) -> list:
    schemes = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [s for s in schemes if s not in SCHEMES]
    if bad:
        raise SerError(f"--schemes: unknown {bad} (known: {', '.join(SCHEMES)})")
    return schemes


# ---- main ----------------------------------------------------------------------------------------------


def prepare(corpus, out, classes=DEFAULT_CLASSES, map_spec=DEFAULT_MAP, schemes="session,speaker") -> dict:
    """Writes <out>/all and <out>/folds/<scheme>; returns {'dd': DataDir, 'sizes': {scheme: per-fold sizes}}."""
    if not str(corpus).strip():
        raise SerError("IEMOCAP corpus path is empty: set IEMOCAP in db.sh or the environment")
    corpus = Path(corpus).absolute()
    out = Path(out)
    mapping = parse_map(map_spec)
    class_list = parse_classes(classes, mapping)
    scheme_list = parse_schemes(schemes)
    utts, texts = read_corpus(corpus)
    if (corpus / "README_SYNTHETIC.txt").is_file():
        log.warning("%s is a SYNTHETIC corpus: its results say nothing about real accuracy", corpus)
    dd = build_datadir(corpus, utts, texts, class_list, mapping, report_dir=out / "local")
    dd.write(out / "all")
    sizes = {}
    speakers = set(dd.utt2spk.values())
    for scheme in scheme_list:
        shutil.rmtree(out / "folds" / scheme, ignore_errors=True)  # no stale folds from an earlier run
        sizes[scheme] = write_folds(dd, out / "folds", scheme, FOLD_MAKERS[scheme](speakers))
    report(dd, class_list, sizes, len(utts))
    return {"dd": dd, "sizes": sizes}


def report(dd: DataDir, classes: list, sizes: dict, n_evaluated: int) -> None:
    counts = Counter(dd.get("utt2emo").values())
    print(f"IEMOCAP: {len(dd)} utterances kept of {n_evaluated} evaluated turns")
    print("  per class: " + ", ".join(f"{c} {counts.get(c, 0)}" for c in classes))
    if "session" in sizes:
        print("  session folds, test sizes: " + "/".join(str(s["test"]) for s in sizes["session"]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="IEMOCAP release -> Kaldi data dirs and speaker-independent folds")
    parser.add_argument("--corpus", required=True, help="IEMOCAP_full_release folder (holds Session1..5)")
    parser.add_argument("--out", default="data", help="output root (default: data)")
    parser.add_argument("--classes", default=DEFAULT_CLASSES, help="labels kept after --map (default: %(default)s)")
    parser.add_argument(
        "--map", default=DEFAULT_MAP, help="label:label merges applied first; '' for none (default: %(default)s)"
    )
    parser.add_argument(
        "--schemes", default="session,speaker", help="fold schemes: session, speaker (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    prepare(args.corpus, args.out, args.classes, args.map, args.schemes)


if __name__ == "__main__":
    run_main(main)
