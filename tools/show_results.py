#!/usr/bin/env python3
"""One table of every scored system under egs/ (each RESULTS.md that stage 4 wrote): recipe, corpus,
scheme, folds, upstream, system, UA, WA, macro-F1, CCC, training time, date (ser.eval.collect_results).

  python tools/show_results.py [egs] [--out results.md]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from ser.eval.collect_results import collect, markdown  # noqa: E402
from ser.utils import run_main, write_text_atomic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1] / "egs"))
    ap.add_argument("--out", help="write the table here instead of stdout")
    args = ap.parse_args()
    rows, other = collect(args.root)
    table = markdown(rows, other)
    if args.out:
        write_text_atomic(args.out, table)
    else:
        sys.stdout.write(table)


if __name__ == "__main__":
    run_main(main)
