"""Late fusion: averages the class posteriors (utt2post) of several systems on the same utterances
and writes the fused utt2post and utt2emo_pred, ready for `ser.bin.score fold`.

  python -m ser.bin.fuse_posteriors --classes neu,hap,ang,sad --out-dir exp/fused/fold1/infer_test \
      exp/a/fold1/infer_test exp/b/fold1/infer_test [--weights 1,1]
"""

import argparse
from pathlib import Path

import numpy as np

from ser.data.datadir import read_kv, write_kv
from ser.utils import SerError, get_logger, run_main

log = get_logger("fuse_posteriors")


def read_posteriors(pred_dir, num_classes: int) -> dict:
    path = Path(pred_dir) / "utt2post"
    if not path.is_file():
        raise SerError(f"{path} not found: run inference of that system first")
    post = {}
    for utt, value in read_kv(path).items():
        p = np.array([float(x) for x in value.split()])
        if len(p) != num_classes:
            raise SerError(f"{path}: utterance '{utt}' has {len(p)} posteriors, expected {num_classes} (--classes)")
        post[utt] = p
    return post


def fuse(pred_dirs, classes, out_dir, weights=None) -> dict:
    weights = np.ones(len(pred_dirs)) if weights is None else np.asarray(weights, dtype=float)
    if len(weights) != len(pred_dirs) or (weights < 0).any() or weights.sum() <= 0:
        raise SerError(f"--weights {list(weights)}: need {len(pred_dirs)} non-negative weights, not all 0")
    systems = [read_posteriors(d, len(classes)) for d in pred_dirs]
    for d, s in zip(pred_dirs[1:], systems[1:]):
        if set(s) != set(systems[0]):
            raise SerError(f"{d}/utt2post and {pred_dirs[0]}/utt2post cover different utterances")
    fused = {u: sum(w * s[u] for w, s in zip(weights, systems)) / weights.sum() for u in systems[0]}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_kv(out_dir / "utt2post", {u: " ".join(f"{x:.5f}" for x in p) for u, p in fused.items()})
    write_kv(out_dir / "utt2emo_pred", {u: classes[int(np.argmax(p))] for u, p in fused.items()})
    return fused


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pred_dirs", nargs="+", help="prediction dirs holding utt2post")
    ap.add_argument("--classes", required=True, help="class names in posterior order, comma separated")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--weights", default=None, help="one weight per system, comma separated (default: equal)")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    fused = fuse(args.pred_dirs, args.classes.split(","), args.out_dir, weights)
    log.info("fused %d systems over %d utterances into %s", len(args.pred_dirs), len(fused), args.out_dir)


if __name__ == "__main__":
    run_main(main)
