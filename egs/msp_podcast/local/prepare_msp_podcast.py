#!/usr/bin/env python3
"""MSP-Podcast data prep shared by every MSP-Podcast recipe: the release layout -> Kaldi data dirs.

Reads the official release layout
    Audios/<FileName>                      16 kHz wav
    Labels/labels_consensus.csv            FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set
    Transcripts/<stem>.txt                 the transcript of <stem>.wav
and writes
    <out>/all                              every kept utterance of the three partitions used
    <out>/folds/official/fold1/{train,valid,test}
with wav.scp, utt2spk, text, utt2emo, utt2gender, utt2vad, utt2dur.

Classes: the categorical task of the SER in Naturalistic Conditions Challenge (Interspeech 2025) uses
A S H U F D C N (anger, sadness, happiness, surprise, fear, disgust, contempt, neutral); rows
labelled O (other) and X (no agreement) are dropped. The utterance id is the file name without
`.wav`; utt2emo keeps the letters; utt2vad is `valence arousal dominance` (EmoVal EmoAct EmoDom,
the corpus' 1..7 scale).

Partitions come from Split_Set as the file gives them (matched case-insensitively): train =
Train, valid = Development, test = --test-split. `auto` takes Test1 when the file has it (the
release's test set 1), else a partition called `test`, else Test2; the log says which. Other
partitions (e.g. Test2 when Test1 is used, Test3 without labels) are left out.

Unknown speakers and genders: SpkrID `Unknown` becomes a pseudo speaker `unk_<utt>` per
utterance (Kaldi needs a speaker per utterance, and two such utterances may or may not share a
speaker); recipes leave these out of the speaker loss and the verification trials, never out of
the emotion task. Gender `Unknown` becomes `u` (excluded from the gender loss and accuracy).

Speaker independence: the official partitions share no known speaker. If a file has a speaker in
both the test partition and train or valid, that speaker's train/valid utterances are dropped
(the official test set stays intact) and the log says so.

Usage: prepare_msp_podcast.py --corpus DIR --out data [--classes A,S,H,U,F,D,C,N] [--test-split auto]
"""

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if (ROOT / "ser").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a recipe without an installed package


from ser.data.audio_check import read_durations  # noqa: E402
from ser.data.datadir import DataDir  # noqa: E402
from ser.data.folds import check_speaker_independent  # noqa: E402
from ser.utils import SerError, get_logger, run_main  # noqa: E402

log = get_logger("prepare_msp_podcast")

LABELS = ("A", "S", "H", "U", "F", "D", "C", "N", "O", "X")
DEFAULT_CLASSES = "A,S,H,U,F,D,C,N"
COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
GENDERS = {"male": "m", "female": "f", "m": "m", "f": "f", "unknown": "u"}
UNKNOWN_SPEAKER_PREFIX = "unk_"
TEST_SPLIT_PREFERENCE = ("test1", "test", "test2")
PLACEHOLDER_TEXT = "<unk>"  # Kaldi text needs a value; normalisation turns it into an empty transcript


def parse_classes(spec: str) -> list:
    classes = [c.strip() for c in spec.split(",") if c.strip()]
    bad = [c for c in classes if c not in LABELS]
    if bad or not classes:
        raise SerError(f"--classes '{spec}': unknown labels {bad} (MSP-Podcast has {', '.join(LABELS)})")
    return classes


def read_labels(path: Path) -> list:
    """Rows of labels_consensus.csv as dicts, each with its line number under `_line`."""
    if not path.is_file():
        raise SerError(f"{path} not found: MSP_PODCAST must hold Audios/, Labels/labels_consensus.csv and Transcripts/")
    with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: files saved by Excel start with a BOM
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise SerError(f"{path}: missing columns {missing} (header: {header}; expected {', '.join(COLUMNS)})")
        reader.fieldnames = header
        rows = []
        for n, row in enumerate(reader, 2):
            rows.append({k: (v or "").strip() for k, v in row.items() if k is not None} | {"_line": n})
    if not rows:
        raise SerError(f"{path}: no rows")
    return rows


def choose_splits(rows: list, test_split: str, where: Path) -> dict:
    """{'train': name, 'valid': name, 'test': name} as spelled in the file."""
    present = {}
    for r in rows:
        present.setdefault(r["Split_Set"].lower(), r["Split_Set"])
    names = {"train": present.get("train"), "valid": present.get("development")}
    if test_split == "auto":
        names["test"] = next((present[s] for s in TEST_SPLIT_PREFERENCE if s in present), None)
    else:
        names["test"] = present.get(test_split.lower())
    missing = [role for role, name in names.items() if name is None]
    if missing:
        wanted = {
            "train": "Train",
            "valid": "Development",
            "test": test_split if test_split != "auto" else "Test1, test or Test2",
        }
        raise SerError(
            f"{where}: Split_Set has no {' / '.join(wanted[m] for m in missing)} partition "
            f"(found: {', '.join(sorted(present.values()))})"
        )
    return names


def parse_row(row: dict, classes: list, where: str) -> dict | None:
    """The fields of one kept row, or None for a class not kept (O, X, or outside --classes)."""
    emo = row["EmoClass"]
    if emo not in LABELS:
        raise SerError(f"{where}: unknown EmoClass '{emo}' (MSP-Podcast has {', '.join(LABELS)})")
    if emo not in classes:
        return None
    name = row["FileName"]
    if not name:
        raise SerError(f"{where}: empty FileName")
    try:
        vad = [float(row[c]) for c in ("EmoVal", "EmoAct", "EmoDom")]
    except ValueError:
        raise SerError(
            f"{where}: EmoVal/EmoAct/EmoDom must be numbers, got "
            f"{row['EmoVal']!r}, {row['EmoAct']!r}, {row['EmoDom']!r}"
        ) from None
    gender = GENDERS.get(row["Gender"].lower())
    if gender is None:
        raise SerError(f"{where}: Gender '{row['Gender']}' is not Male, Female or Unknown")
    utt = name[:-4] if name.lower().endswith(".wav") else name
    spk_id = row["SpkrID"]
    if not spk_id:
        raise SerError(f"{where}: empty SpkrID (write Unknown for an unknown speaker)")
    spk = f"{UNKNOWN_SPEAKER_PREFIX}{utt}" if spk_id.lower() == "unknown" else f"spk{spk_id}"
    return {
        "utt": utt,
        "file": name if name.lower().endswith(".wav") else f"{name}.wav",
        "emo": emo,
        "vad": vad,
        "spk": spk,
        "gender": gender,
    }


def build(corpus: Path, rows: list, classes: list, splits: dict, report_dir=None) -> tuple:
    """(DataDir of every kept utterance, {role: [utts]}, counters for the report)."""
    role_of = {name: role for role, name in splits.items()}
    fields = {n: {} for n in ("wav.scp", "utt2spk", "text", "utt2emo", "utt2gender", "utt2vad", "utt2dur")}
    parts = {role: [] for role in splits}
    dropped, no_text = Counter(), 0
    seen = {}
    used = [r for r in rows if r["Split_Set"] in role_of]
    wheres = {}
    for r in used:
        where = f"{corpus}/Labels/labels_consensus.csv:{r['_line']}"
        u = parse_row(r, classes, where)
        if u is None:
            dropped[r["EmoClass"]] += 1
            continue
        if u["utt"] in seen:
            raise SerError(f"{where}: {u['file']} was already listed on line {seen[u['utt']]}")
        seen[u["utt"]] = r["_line"]
        wav = corpus / "Audios" / u["file"]
        wheres[u["utt"]] = where
        trans = corpus / "Transcripts" / f"{u['utt']}.txt"
        text = " ".join(trans.read_text(encoding="utf-8", errors="replace").split()) if trans.is_file() else ""
        if not text:
            no_text += 1
        fields["wav.scp"][u["utt"]] = str(wav)
        fields["utt2spk"][u["utt"]] = u["spk"]
        fields["text"][u["utt"]] = text or PLACEHOLDER_TEXT
        fields["utt2emo"][u["utt"]] = u["emo"]
        fields["utt2gender"][u["utt"]] = u["gender"]
        fields["utt2vad"][u["utt"]] = " ".join(f"{x:.4f}" for x in u["vad"])
        parts[role_of[r["Split_Set"]]].append(u["utt"])
    if not seen:
        raise SerError(f"{corpus}: no utterance of {', '.join(splits.values())} has a class in {','.join(classes)}")
    # every missing or unreadable file at once; short clips flagged
    dur = read_durations(((u, fields["wav.scp"][u], wheres[u]) for u in fields["wav.scp"]), report_dir)
    fields["utt2dur"] = {u: f"{d:.4f}" for u, d in dur.items()}
    return DataDir(fields=fields), parts, {"dropped": dropped, "no_text": no_text}


def enforce_speaker_independence(parts: dict, utt2spk: dict) -> dict:
    test_spks = {utt2spk[u] for u in parts["test"]}
    out = dict(parts)
    for role in ("train", "valid"):
        leak = sorted({utt2spk[u] for u in parts[role]} & test_spks)
        if leak:
            out[role] = [u for u in parts[role] if utt2spk[u] not in test_spks]
            log.warning(
                "speakers %s of the test partition also appear in %s: their %d %s utterances are dropped",
                leak[:10],
                role,
                len(parts[role]) - len(out[role]),
                role,
            )
    check_speaker_independent(out, utt2spk, "official fold1")
    return out


def prepare(corpus, out, classes=DEFAULT_CLASSES, test_split="auto") -> dict:
    if not str(corpus).strip():
        raise SerError("MSP-Podcast corpus path is empty: set MSP_PODCAST in db.sh or the environment")
    corpus, out = Path(corpus).absolute(), Path(out)
    if not corpus.is_dir():
        raise SerError(
            f"MSP-Podcast corpus directory not found: '{corpus}'. Set MSP_PODCAST in db.sh or the "
            "environment to the folder holding Audios/, Labels/ and Transcripts/"
        )
    class_list = parse_classes(classes)
    labels = corpus / "Labels" / "labels_consensus.csv"
    rows = read_labels(labels)
    splits = choose_splits(rows, test_split, labels)
    log.info("partitions: train = %s, valid = %s, test = %s", splits["train"], splits["valid"], splits["test"])
    if (corpus / "README_SYNTHETIC.txt").is_file():
        log.warning("%s is a SYNTHETIC corpus: its results say nothing about real accuracy", corpus)
    dd, parts, stats = build(corpus, rows, class_list, splits, report_dir=out / "local")
    parts = enforce_speaker_independence(parts, dd.utt2spk)
    dd = dd.subset([u for p in parts.values() for u in p])
    dd.write(out / "all")
    fold = out / "folds" / "official" / "fold1"
    for role, utts in parts.items():
        dd.subset(utts).write(fold / role)
    report(dd, class_list, parts, splits, stats)
    return {"dd": dd, "parts": parts, "splits": splits, **stats}


def report(dd: DataDir, classes: list, parts: dict, splits: dict, stats: dict) -> None:
    emo, spk, gender = dd.get("utt2emo"), dd.utt2spk, dd.get("utt2gender")
    print(
        f"MSP-Podcast: {len(dd)} utterances kept; dropped by class: "
        + (", ".join(f"{c} {n}" for c, n in sorted(stats["dropped"].items())) or "none")
    )
    for role, utts in parts.items():
        counts = Counter(emo[u] for u in utts)
        unknown = sum(spk[u].startswith(UNKNOWN_SPEAKER_PREFIX) for u in utts)
        print(
            f"  {role} ({splits[role]}): {len(utts)} utts, "
            f"{len({spk[u] for u in utts if not spk[u].startswith(UNKNOWN_SPEAKER_PREFIX)})} known speakers, "
            f"{unknown} of unknown speaker, {sum(gender[u] == 'u' for u in utts)} of unknown gender; "
            + ", ".join(f"{c} {counts.get(c, 0)}" for c in classes)
        )
    if stats["no_text"]:
        log.warning(
            "%d utterances have no transcript file (or an empty one): text '%s', left out of the CTC task",
            stats["no_text"],
            PLACEHOLDER_TEXT,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="MSP-Podcast release -> Kaldi data dirs and the official partitions")
    parser.add_argument("--corpus", required=True, help="folder holding Audios/, Labels/, Transcripts/")
    parser.add_argument("--out", default="data")
    parser.add_argument("--classes", default=DEFAULT_CLASSES, help="EmoClass letters kept (default: %(default)s)")
    parser.add_argument(
        "--test-split", default="auto", help="Split_Set used as test: auto (Test1, else test, else Test2) or a name"
    )
    args = parser.parse_args(argv)
    prepare(args.corpus, args.out, args.classes, args.test_split)


if __name__ == "__main__":
    run_main(main)
