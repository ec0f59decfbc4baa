#!/usr/bin/env python3
"""Split a Kaldi-style list file (wav.scp, feats.scp, text, ...) into N parts.

Usage: split_scp.py [--utt2spk UTT2SPK] <in-file> <out-1> [<out-2> ...]

Without --utt2spk the lines are cut into N contiguous parts whose sizes differ
by at most one (the first parts get the extra lines). With --utt2spk, all
lines of a speaker go to the same part: speakers, in order of first
appearance, are cut into N contiguous groups with near-equal line counts, and
each part keeps the input's line order. <in-file> may be "-" for stdin.
It is an error to ask for more parts than there are lines (or speakers).
"""

import argparse
import sys

PROG = "split_scp.py"


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def read_lines(path):
    # Split on "\n" only, as Kaldi does: str.splitlines() would also break
    # lines at characters such as U+2028 that may occur in transcripts.
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
        else:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
    except OSError as e:
        die(str(e))
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def group_sizes(sizes, n):
    """Assign consecutive groups (sizes) to n non-empty parts; returns part index per group."""
    total, part, cum, owner = sum(sizes), 0, 0, []
    for i, size in enumerate(sizes):
        if cum and part < n - 1:
            target = total * (part + 1) / n
            # Move on when the remaining groups are just enough for the remaining
            # parts, or when stopping here lands closer to the ideal boundary.
            if len(sizes) - i == n - 1 - part or abs(cum - target) <= abs(cum + size - target):
                part += 1
        owner.append(part)
        cum += size
    return owner


def main():
    title, usage, details = __doc__.split("\n\n", 2)
    ap = argparse.ArgumentParser(
        prog=PROG,
        usage=usage.split(": ", 1)[1],
        description=f"{title}\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--utt2spk", help="keep the lines of each speaker in one part")
    ap.add_argument("input")
    ap.add_argument("outputs", nargs="+")
    args = ap.parse_args()
    lines, n = read_lines(args.input), len(args.outputs)

    if args.utt2spk is None:
        if n > len(lines):
            die(f"cannot split {len(lines)} lines of {args.input} into {n} parts")
        base, extra = divmod(len(lines), n)
        bounds = [0]
        for k in range(n):
            bounds.append(bounds[-1] + base + (k < extra))
        parts = [lines[bounds[k] : bounds[k + 1]] for k in range(n)]
    else:
        spk_of = {}
        for num, line in enumerate(read_lines(args.utt2spk), 1):
            fields = line.split()
            if len(fields) != 2:
                die(f"{args.utt2spk} line {num}: expected '<utt> <spk>', got '{line}'")
            spk_of[fields[0]] = fields[1]
        speakers, line_spk = {}, []
        for num, line in enumerate(lines, 1):
            key = line.split(maxsplit=1)[0] if line.strip() else ""
            if key not in spk_of:
                die(f"{args.input} line {num}: utterance '{key}' is not in {args.utt2spk}")
            line_spk.append(spk_of[key])
            speakers[spk_of[key]] = speakers.get(spk_of[key], 0) + 1
        if n > len(speakers):
            die(f"cannot split {len(speakers)} speakers of {args.input} into {n} parts")
        part_of = dict(zip(speakers, group_sizes(list(speakers.values()), n)))
        parts = [[] for _ in range(n)]
        for line, spk in zip(lines, line_spk):
            parts[part_of[spk]].append(line)

    for path, part in zip(args.outputs, parts):
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.writelines(line + "\n" for line in part)
        except OSError as e:
            die(str(e))


if __name__ == "__main__":
    main()
