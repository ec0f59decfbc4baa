#!/usr/bin/env python3
"""Convert utt2spk to spk2utt.

Usage: utt2spk_to_spk2utt.py [<utt2spk>|-] > spk2utt

Reads "<utt> <spk>" lines (from the file, or stdin if none or "-") and writes
"<spk> <utt1> <utt2> ..." lines: speakers in C-locale (byte) order, each
speaker's utterances in input order.
"""

import argparse
import sys

PROG = "utt2spk_to_spk2utt.py"


def c_order(s):
    return s.encode("utf-8", "surrogateescape")


def main():
    title, usage, details = __doc__.split("\n\n", 2)
    ap = argparse.ArgumentParser(
        prog=PROG,
        usage=usage.split(": ", 1)[1],
        description=f"{title}\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("utt2spk", nargs="?", default="-")
    args = ap.parse_args()
    try:
        if args.utt2spk == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.utt2spk, "rb") as f:
                data = f.read()
    except OSError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        sys.exit(1)
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if lines[-1] == "":
        lines.pop()
    spk2utt = {}
    for num, line in enumerate(lines, 1):
        fields = line.split()
        if len(fields) != 2:
            print(f"{PROG}: {args.utt2spk} line {num}: expected '<utt> <spk>', got '{line}'", file=sys.stderr)
            sys.exit(1)
        spk2utt.setdefault(fields[1], []).append(fields[0])
    out = "".join(f"{spk} {' '.join(utts)}\n" for spk, utts in sorted(spk2utt.items(), key=lambda kv: c_order(kv[0])))
    sys.stdout.buffer.write(out.encode("utf-8", "surrogateescape"))


if __name__ == "__main__":
    main()
