"""Per fold, the candidate system with the best validation score (the metric each selected its
epoch on); its test predictions become the fold's predictions of the selected system
(ser.eval.select). selected.json in each fold records the choice and every candidate's score.

  python -m ser.bin.select_on_valid --folds "1 2" --out exp/joint_mtl/joint_fixed_selected \
      lam0.1=exp/joint_mtl/joint_fixed_lam0.1 lam0.3=exp/joint_mtl/joint_fixed_lam0.3 ...
"""

import argparse
from pathlib import Path

from ser.eval.select import select_on_valid
from ser.utils import SerError, run_main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+", help="exp dir with fold<k>/, or name=dir")
    ap.add_argument("--folds", required=True, help='fold numbers, e.g. "1 2 3"')
    ap.add_argument("--out", required=True, help="the selected system's exp dir")
    ap.add_argument("--pred-subdir", default="infer_test")
    args = ap.parse_args()
    folds = args.folds.split()
    if not folds:
        raise SerError("--folds is empty")
    candidates = {}
    for item in args.candidates:
        name, _, path = item.rpartition("=")
        candidates[name or Path(path).name] = path
    select_on_valid(candidates, folds, args.out, args.pred_subdir)


if __name__ == "__main__":
    run_main(main)
