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
from pathlib import Path

import numpy as np

from ser.data.datadir import read_kv
from ser.eval.posteriors import read_posteriors, write_posteriors
from ser.utils import SerError, get_logger, run_main

log = get_logger("fuse_posteriors")


def class_priors(data_dirs, classes) -> np.ndarray:
    """Relative class frequencies of the utt2emo files of `data_dirs`."""
    counts = np.zeros(len(classes))
    for d in data_dirs:
        path = Path(d) / "utt2emo"
        if not path.is_file():
            raise SerError(f"{path} not found (--prior-data takes data dirs with an utt2emo)")
        for utt, emo in read_kv(path).items():
            if emo not in classes:
                raise SerError(f"{path}: utterance '{utt}' has label '{emo}', not in --classes {','.join(classes)}")
            counts[classes.index(emo)] += 1
    if counts.sum() == 0:
        raise SerError(f"--prior-data {','.join(map(str, data_dirs))}: no labelled utterance")
    return counts / counts.sum()


def fuse(pred_dirs, classes, out_dir, weights=None, priors=None) -> dict:
    weights = np.ones(len(pred_dirs)) if weights is None else np.asarray(weights, dtype=float)
    if len(weights) != len(pred_dirs) or (weights < 0).any() or weights.sum() <= 0:
        raise SerError(f"--weights {list(weights)}: need {len(pred_dirs)} non-negative weights, not all 0")
    if classes is None:  # every system's classes.txt must then agree with the first's
        classes = read_posteriors(pred_dirs[0])[1]
    systems = [read_posteriors(d, classes)[0] for d in pred_dirs]
    for d, s in zip(pred_dirs[1:], systems[1:]):
        if set(s) != set(systems[0]):
            raise SerError(f"{d}/utt2post and {pred_dirs[0]}/utt2post cover different utterances")
    fused = {u: sum(w * s[u] for w, s in zip(weights, systems)) / weights.sum() for u in systems[0]}
    if priors is not None:
        # A class absent from training keeps its (zero) posterior rather than dividing by zero.
        scale = np.where(priors > 0, 1.0 / np.where(priors > 0, priors, 1.0), 1.0)
        fused = {u: p * scale / max((p * scale).sum(), 1e-12) for u, p in fused.items()}
    write_posteriors(out_dir, list(fused), list(fused.values()), classes)
    return fused


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
