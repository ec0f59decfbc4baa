"""Scores the test predictions of one or more systems on the asked folds and writes RESULTS.md: every
output a system predicted is scored (emotion UA/WA/macro-F1 and confusion, V/A/D CCC, and for
multi-task models gender accuracy, speaker EER, CER; ser.eval.scoring), each fold's scores into
<exp>/fold<k>/<pred-subdir>/scores.json.

  python -m ser.bin.score --folds-root data/folds/session --folds "1 2 3 4 5" --out exp/x/RESULTS.md \
      [--classes neu,hap,ang,sad] [--title "..."] [--note "corpus, folds, upstream"] [--command "./run.sh ..."] \
      exp/x | name=exp/x [name=exp/y ...]

--classes orders the confusion matrices; by default each prediction dir's classes.txt.
"""

import argparse
from pathlib import Path

from ser.eval.fold_check import check_folds
from ser.eval.scoring import score_pooled, score_system, write_results
from ser.utils import SerError, get_logger, run_main

log = get_logger("score")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("systems", nargs="+", help="exp dir with fold<k>/<pred-subdir>/, or name=dir to label its row")
    ap.add_argument("--folds-root", required=True, help="data/folds/<scheme>, holding fold<k>/test")
    ap.add_argument("--folds", required=True, help='the fold numbers scored, e.g. "1 2 3"')
    ap.add_argument("--out", required=True, help="the RESULTS.md written")
    ap.add_argument("--classes", help="comma-separated; default: the predictions' classes.txt")
    ap.add_argument("--pred-subdir", default="infer_test")
    ap.add_argument(
        "--extra-set",
        action="append",
        default=[],
        help="another fold subset (e.g. valid) also scored, from fold<k>/infer_<set>, as a section of --out",
    )
    ap.add_argument("--title", default="Results")
    ap.add_argument("--note", default="")
    ap.add_argument("--command", default="", help="the command that produced the systems (recorded)")
    ap.add_argument("--unknown-prefix", default="unk_", help="speakers left out of verification trials")
    ap.add_argument("--max-trials", type=int, default=100000, help="verification trials per kind")
    ap.add_argument(
        "--allow-partial",
        action="store_true",
        help="summarise a subset of the scheme's folds (otherwise every fold under --folds-root is required)",
    )
    args = ap.parse_args()
    folds = args.folds.split()
    if not folds:
        raise SerError("--folds is empty")
    classes = args.classes.split(",") if args.classes else None
    dirs = {}
    for item in args.systems:
        name, _, path = item.rpartition("=")
        dirs[name or Path(path).name] = path
    folds_line = check_folds(dirs, args.folds_root, folds, args.pred_subdir, args.allow_partial)
    aux = {"unknown_prefix": args.unknown_prefix, "max_trials": args.max_trials}
    systems, pooled = {}, {}
    extra = {name: ({}, {}) for name in args.extra_set}
    for name, path in dirs.items():
        systems[name] = score_system(path, args.folds_root, folds, classes, args.pred_subdir, **aux)
        pooled[name] = score_pooled(path, args.folds_root, folds, classes, args.pred_subdir)
        for subset, (set_systems, set_pooled) in extra.items():
            sub = f"infer_{subset}"
            set_systems[name] = score_system(path, args.folds_root, folds, classes, sub, subset, **aux)
            set_pooled[name] = score_pooled(path, args.folds_root, folds, classes, sub, subset)
    write_results(args.out, systems, args.title, f"{args.note} {folds_line}".strip(), args.command, pooled, extra)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    run_main(main)
