"""Late fusion: averages the class posteriors (utt2post) of several systems on the same utterances
and writes the fused utt2post, utt2emo_pred and classes.txt, ready for `ser.bin.score`. Every
system's classes.txt must name the same classes in the same order (ser.eval.posteriors).

  python -m ser.bin.fuse_posteriors [--classes neu,hap,ang,sad] --out-dir exp/fused/fold1/infer_test \
      exp/a/fold1/infer_test exp/b/fold1/infer_test [--weights 1,1] \
      [--prior-data data/folds/emobox/fold1/train,data/folds/emobox/fold1/valid]

`--prior-data` divides the fused posteriors by the class frequencies of those (training) data dirs'
utt2emo and renormalises: the decision that maximises the expected unweighted accuracy (mean
per-class recall) when a classifier's posteriors carry its training set's class imbalance, as
RAVDESS' neutral class (half the size of the others) gives them. It uses training labels only.
"""

import argparse

from ser.eval.fusion import class_priors, fuse
from ser.eval.posteriors import read_posteriors
from ser.utils import get_logger, run_main

log = get_logger("fuse_posteriors")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pred_dirs", nargs="+", help="prediction dirs holding utt2post")
    ap.add_argument(
        "--classes",
        help="class names in posterior order, comma separated: each system's "
        "classes.txt must list exactly these (default: the first system's)",
    )
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--weights", default=None, help="one weight per system, comma separated (default: equal)")
    ap.add_argument(
        "--prior-data",
        default=None,
        help="comma-separated training data dirs: divide the fused "
        "posteriors by their utt2emo class frequencies (balanced decision)",
    )
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    classes = args.classes.split(",") if args.classes else read_posteriors(args.pred_dirs[0])[1]
    priors = class_priors(args.prior_data.split(","), classes) if args.prior_data else None
    fused = fuse(args.pred_dirs, classes, args.out_dir, weights, priors)
    log.info("fused %d systems over %d utterances into %s", len(args.pred_dirs), len(fused), args.out_dir)


if __name__ == "__main__":
    run_main(main)
