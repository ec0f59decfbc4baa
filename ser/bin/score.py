"""Scores predictions and writes RESULTS.md.

  python -m ser.bin.score fold --data-dir data/folds/session/fold1/test --pred-dir exp/x/fold1/infer_test \
      --classes neu,hap,ang,sad
  python -m ser.bin.score results --exp exp/x [--exp exp/y ...] --out exp/RESULTS.md --title "..." \
      [--command "./run.sh ..."] [--note "corpus, folds, upstream"]
"""

import argparse
import json
from pathlib import Path

from ser.train.scoring import collect, results_table, score_fold, summary_table
from ser.utils import get_logger, run_main, write_text_atomic

log = get_logger("score")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fold")
    f.add_argument("--data-dir", required=True)
    f.add_argument("--pred-dir", required=True)
    f.add_argument("--classes", required=True)
    r = sub.add_parser("results")
    r.add_argument("--exp", action="append", required=True, help="exp dir with fold*/<pred>/scores.json; "
                   "name=dir to label the row")
    r.add_argument("--pred-subdir", default="infer_test")
    r.add_argument("--out", required=True)
    r.add_argument("--title", default="Results")
    r.add_argument("--command", default="")
    r.add_argument("--note", default="")
    args = ap.parse_args()

    if args.cmd == "fold":
        scores = score_fold(args.data_dir, args.pred_dir, args.classes.split(","))
        log.info("%s: %s", args.pred_dir, json.dumps({k: v for k, v in scores.items()
                                                     if not isinstance(v, list)}))
        return
    systems = {}
    for item in args.exp:
        name, _, path = item.rpartition("=")
        systems[name or Path(path).name] = collect(path, args.pred_subdir)
    text = [f"# {args.title}\n"]
    if args.note:
        text.append(args.note + "\n")
    if args.command:
        text.append(f"Produced by:\n\n```\n{args.command}\n```\n")
    text.append("## Summary (mean over folds)\n")
    text.append(summary_table(systems))
    text.append("\n## Per fold\n")
    text.append(results_table(systems))
    write_text_atomic(args.out, "\n".join(text))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    run_main(main)
