#!/usr/bin/env python3
"""Combine Kaldi data directories into one (Kaldi's utils/combine_data.sh semantics).

Usage: combine_data.py <dest-dir> <src-dir1> <src-dir2> ...

Every per-utterance file present in ALL sources (wav.scp, utt2spk, text, utt2emo, utt2gender,
utt2vad, utt2dur, utt2intensity, ...) is concatenated and sorted in C-locale order; a file that
only some sources have is left out, with a warning. spk2utt is rebuilt from utt2spk. An utterance
in two sources is an error: combining must not duplicate data. Files are written to temporary
names and renamed, so a killed run never leaves a half-written directory behind.
"""

import argparse
import os
import sys

PROG = "combine_data.py"
from ser.data.datadir import UTT_FIELDS as PER_UTT  # noqa: E402  (one list for tools and library)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def main(argv):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest")
    ap.add_argument("srcs", nargs="+")
    args = ap.parse_args(argv)
    dest, srcs = args.dest, args.srcs
    for s in srcs:
        if not os.path.isfile(os.path.join(s, "utt2spk")):
            sys.exit(f"{PROG}: {s}/utt2spk not found: not a data dir")
    owner = {}
    for s in srcs:
        for line in read_lines(os.path.join(s, "utt2spk")):
            utt = line.split()[0]
            if utt in owner:
                sys.exit(f"{PROG}: utterance '{utt}' is in both {owner[utt]} and {s}")
            owner[utt] = s
    os.makedirs(dest, exist_ok=True)
    for name in PER_UTT:
        present = [s for s in srcs if os.path.isfile(os.path.join(s, name))]
        if not present:
            continue
        if len(present) < len(srcs):
            print(f"{PROG}: warning: {name} is not in every source, left out of {dest}", file=sys.stderr)
            continue
        rows = sorted(
            (line for s in srcs for line in read_lines(os.path.join(s, name))),
            key=lambda line: line.split(maxsplit=1)[0].encode(),
        )
        write(os.path.join(dest, name), rows)
    spk2utt = {}
    for line in read_lines(os.path.join(dest, "utt2spk")):
        utt, spk = line.split()[:2]
        spk2utt.setdefault(spk, []).append(utt)
    write(
        os.path.join(dest, "spk2utt"),
        [f"{s} {' '.join(u)}" for s, u in sorted(spk2utt.items(), key=lambda x: x[0].encode())],
    )
    print(f"{PROG}: combined {len(owner)} utterances of {len(srcs)} data dirs into {dest}", file=sys.stderr)


def write(path, rows):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(r + "\n" for r in rows)
    os.replace(tmp, path)


if __name__ == "__main__":
    main(sys.argv[1:])
