#!/usr/bin/env python3
"""Check that a data directory is well-formed (Kaldi validate_data_dir.sh semantics).

Usage: validate_data_dir.py [--no-wav] [--no-text] [--allow-empty-text] <data-dir>

Required: utt2spk, spk2utt and wav.scp (wav.scp not with --no-wav; it is
still checked when present). Per-utterance files checked when present:
  wav.scp utt2spk text utt2emo utt2gender utt2vad utt2dur utt2num_frames
  feats.scp utt2intensity
Each file, and spk2utt, must have unique keys (first field) sorted in C-locale
(byte) order and no empty lines or DOS line endings. Every per-utterance file
must list exactly the utterances of utt2spk, and spk2utt must equal what
utt2spk_to_spk2utt.py makes from utt2spk. Values: utt2spk, utt2emo,
utt2intensity one field; utt2gender m, f or u (unknown); utt2vad three floats
(valence arousal dominance); utt2dur one positive float; utt2num_frames one
positive integer; wav.scp, feats.scp non-empty; text non-empty unless
--allow-empty-text. --no-text skips the text file entirely.

Every problem is reported as "<file> line <n>: <problem>"; exit status 1 if
there is any, else "validate_data_dir.py: Successfully validated
data-directory <dir>" and exit status 0.
"""

import argparse
import math
import os
import re
import sys

PROG = "validate_data_dir.py"
from ser.data.datadir import UTT_FIELDS as PER_UTT  # noqa: E402  (one list for tools and library)

MAX_REPORTED = 30


def c_order(s):
    return s.encode("utf-8", "surrogateescape")


def floats(value, count):
    try:
        xs = [float(x) for x in value.split()]
    except ValueError:
        return None
    return xs if len(xs) == count and all(map(math.isfinite, xs)) else None


def value_problem(name, value, allow_empty_text):
    """Why the value part of a line of file `name` is invalid, or None."""
    fields = value.split()
    if name in ("utt2spk", "utt2emo", "utt2intensity") and len(fields) != 1:
        return f"expected exactly one value after the utterance id, got '{value}'"
    if name in ("wav.scp", "feats.scp", "spk2utt") and not fields:
        return "nothing after the key"
    if name == "text" and not fields and not allow_empty_text:
        return "empty transcript (use --allow-empty-text if intended)"
    if name == "utt2gender" and value.strip() not in ("m", "f", "u"):
        return f"gender must be 'm', 'f' or 'u' (unknown), got '{value}'"
    if name == "utt2vad" and floats(value, 3) is None:
        return f"expected three floats (valence arousal dominance), got '{value}'"
    if name == "utt2dur" and ((xs := floats(value, 1)) is None or xs[0] <= 0):
        return f"expected one positive duration in seconds, got '{value}'"
    if name == "utt2num_frames" and not re.fullmatch(r"\s*0*[1-9]\d*\s*", value):
        return f"expected one positive integer, got '{value}'"
    return None


class Checker:
    def __init__(self, data_dir, allow_empty_text):
        self.dir, self.allow_empty_text, self.errors = data_dir, allow_empty_text, []

    def error(self, name, line, problem):
        where = os.path.join(self.dir, name) + (f" line {line}" if line else "")
        self.errors.append(f"{where}: {problem}")

    def read(self, name):
        """Check the format of a table file; return {key: (line number, value)}."""
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                lines = f.read().decode("utf-8", "surrogateescape").split("\n")
        except OSError as e:
            self.error(name, None, f"cannot read: {e.strerror}")
            return {}
        if lines[-1] == "":
            lines.pop()
        table, prev, unsorted_reported = {}, None, False
        for num, line in enumerate(lines, 1):
            if line.endswith("\r"):
                self.error(name, num, "line ends with a carriage return (DOS line ending)")
                line = line[:-1]
            if not line.strip():
                self.error(name, num, "empty line")
                continue
            if line[0] in " \t":
                self.error(name, num, "line starts with whitespace")
            key, _, value = line.strip(" \t").replace("\t", " ").partition(" ")
            if key in table:
                self.error(name, num, f"duplicate key '{key}' (first on line {table[key][0]})")
                continue
            if prev is not None and c_order(key) < c_order(prev[1]) and not unsorted_reported:
                # One report per file: after the first, every later line may be "unsorted".
                self.error(
                    name,
                    num,
                    f"not sorted: '{key}' comes after '{prev[1]}' (line "
                    f"{prev[0]}) but C-locale order puts it first; "
                    "run utils/fix_data_dir.py",
                )
                unsorted_reported = True
            problem = value_problem(name, value, self.allow_empty_text)
            if problem:
                self.error(name, num, problem)
            table[key] = (num, value)
            prev = (num, key)
        return table

    def same_utts(self, name, table, utt2spk):
        for utt, (num, _) in table.items():
            if utt not in utt2spk:
                self.error(name, num, f"utterance '{utt}' is not in utt2spk")
        for utt, (num, _) in utt2spk.items():
            if utt not in table:
                self.error(name, None, f"utterance '{utt}' (utt2spk line {num}) is missing")

    def spk2utt_matches(self, spk2utt, utt2spk):
        expected = {}
        for utt, (_, spk) in utt2spk.items():
            expected.setdefault(spk.strip(), []).append(utt)
        for spk, (num, value) in spk2utt.items():
            utts = value.split()
            if spk not in expected:
                self.error("spk2utt", num, f"speaker '{spk}' does not occur in utt2spk")
            elif utts != expected[spk]:
                missing = [u for u in expected[spk] if u not in utts]
                extra = [u for u in utts if u not in expected[spk]]
                detail = (f"missing {missing[:3]}" if missing else "") + (f" extra {extra[:3]}" if extra else "")
                self.error(
                    "spk2utt",
                    num,
                    f"utterances of speaker '{spk}' differ from utt2spk: "
                    + (detail.strip() or "different order or duplicates"),
                )
        for spk, utts in expected.items():
            if spk not in spk2utt:
                self.error("spk2utt", None, f"speaker '{spk}' (utt2spk line {utt2spk[utts[0]][0]}) is missing")


def main():
    title, usage, details = __doc__.split("\n\n", 2)
    ap = argparse.ArgumentParser(
        prog=PROG,
        usage=usage.split(": ", 1)[1],
        description=f"{title}\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--no-wav", action="store_true", help="do not require wav.scp")
    ap.add_argument("--no-text", action="store_true", help="ignore the text file")
    ap.add_argument("--allow-empty-text", action="store_true", help="accept text lines with no words")
    ap.add_argument("data_dir")
    args = ap.parse_args()
    d = args.data_dir.rstrip("/") or "/"
    if not os.path.isdir(d):
        print(f"{PROG}: no such directory {d}", file=sys.stderr)
        sys.exit(1)

    checker = Checker(d, args.allow_empty_text)
    required = ["utt2spk", "spk2utt"] + ([] if args.no_wav else ["wav.scp"])
    for name in required:
        if not os.path.isfile(os.path.join(d, name)):
            checker.error(name, None, "required file does not exist")
    if os.path.isfile(os.path.join(d, "utt2spk")):
        utt2spk = checker.read("utt2spk")
        if os.path.isfile(os.path.join(d, "spk2utt")):
            checker.spk2utt_matches(checker.read("spk2utt"), utt2spk)
        for name in PER_UTT:
            if name == "utt2spk" or (name == "text" and args.no_text):
                continue
            if os.path.isfile(os.path.join(d, name)):
                checker.same_utts(name, checker.read(name), utt2spk)
        if not utt2spk:
            checker.error("utt2spk", None, "no utterances")

    if checker.errors:
        for msg in checker.errors[:MAX_REPORTED]:
            print(f"{PROG}: {msg}", file=sys.stderr)
        if len(checker.errors) > MAX_REPORTED:
            print(f"{PROG}: ... and {len(checker.errors) - MAX_REPORTED} more problems", file=sys.stderr)
        sys.exit(1)
    print(f"{PROG}: Successfully validated data-directory {d}")


if __name__ == "__main__":
    main()
