#!/usr/bin/env python3
"""Make a data directory consistent (Kaldi fix_data_dir.sh semantics).

Usage: fix_data_dir.py <data-dir>

Works on the per-utterance files present among
  wav.scp utt2spk text utt2emo utt2gender utt2vad utt2dur utt2num_frames
  feats.scp utt2intensity
(utt2spk is required). Empty lines, repeated keys (the first line wins) and
utt2spk lines without exactly one speaker are dropped, DOS line endings are
removed. Only utterances present in every one of these files are kept; each
file is sorted by utterance id in C-locale (byte) order and spk2utt is
regenerated from utt2spk. The previous versions of the rewritten files are
copied to <data-dir>/.backup/, and every file is replaced atomically.
Reports on stderr, e.g.
  fix_data_dir.py: kept 95 of 100 utterances; 3 missing from text, 2 missing from utt2emo
If no utterance would be left, the directory is not changed and the exit
status is 1.
"""

import argparse
import os
import shutil
import sys
import tempfile

PROG = "fix_data_dir.py"
from ser.data.datadir import UTT_FIELDS as PER_UTT  # noqa: E402  (one list for tools and library)


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def c_order(s):
    return s.encode("utf-8", "surrogateescape")


def read_table(path, name, notes):
    """Return {key: line} keeping the first line of each key."""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").split("\n")
    table, dropped = {}, 0
    for line in lines:
        line = line.rstrip("\r")
        fields = line.split()
        if not fields:
            continue
        if fields[0] in table or (name == "utt2spk" and len(fields) != 2):
            dropped += 1
            continue
        table[fields[0]] = line.strip()
    if dropped:
        notes.append(f"dropped {dropped} repeated or malformed lines from {name}")
    return table


def write_atomically(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".fix_data_dir.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))
        if os.path.exists(path):
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    title, usage, details = __doc__.split("\n\n", 2)
    ap = argparse.ArgumentParser(
        prog=PROG,
        usage=usage.split(": ", 1)[1],
        description=f"{title}\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("data_dir")
    d = ap.parse_args().data_dir
    if not os.path.isfile(os.path.join(d, "utt2spk")):
        die(f"{os.path.join(d, 'utt2spk')} does not exist")

    notes, tables = [], {}
    try:
        for name in PER_UTT:
            if os.path.isfile(os.path.join(d, name)):
                tables[name] = read_table(os.path.join(d, name), name, notes)
    except OSError as e:
        die(f"cannot read: {e}")

    all_utts = set().union(*tables.values())
    kept = set.intersection(*(set(t) for t in tables.values()))
    if not kept:
        die(f"no utterance is present in all of {', '.join(tables)}; {d} left unchanged")
    missing = [f"{len(all_utts) - len(t)} missing from {name}" for name, t in tables.items() if len(t) < len(all_utts)]
    order = sorted(kept, key=c_order)

    spk2utt = {}
    for utt in order:
        spk2utt.setdefault(tables["utt2spk"][utt].split()[1], []).append(utt)
    outputs = {name: "".join(t[utt] + "\n" for utt in order) for name, t in tables.items()}
    outputs["spk2utt"] = "".join(
        f"{spk} {' '.join(utts)}\n" for spk, utts in sorted(spk2utt.items(), key=lambda kv: c_order(kv[0]))
    )
    try:
        backup = os.path.join(d, ".backup")
        os.makedirs(backup, exist_ok=True)
        for name in outputs:
            if os.path.isfile(os.path.join(d, name)):
                shutil.copy2(os.path.join(d, name), os.path.join(backup, name))
        for name, text in outputs.items():
            write_atomically(os.path.join(d, name), text)
    except OSError as e:
        die(f"cannot write: {e}")

    report = [f"kept {len(kept)} of {len(all_utts)} utterances"]
    report += [", ".join(missing)] if missing else []
    print(f"{PROG}: " + "; ".join(report + notes), file=sys.stderr)


if __name__ == "__main__":
    main()
