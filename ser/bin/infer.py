"""Runs a trained fold model (model.best.pt) on a data dir and writes every output it gives:
utt2emo_pred, utt2post and classes.txt (emotion), utt2vad_pred (corpus scale), and for multi-task
models utt2gender_pred, spk_embed.npz, text_pred (see ser.train.experiment.write_predictions).

  python -m ser.bin.infer --exp-dir exp/x/fold1 --data-dir data/folds/session/fold1/test \
      --feat ssl=dump/hubert/feats.scp --out-dir exp/x/fold1/infer_test [--set model.tta_speeds=[0.9,1.0,1.1]]
"""

import argparse

from ser.config import parse_overrides
from ser.train.experiment import FeatStores, infer
from ser.utils import SerError, pick_device, run_main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp-dir", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--feat", action="append", default=[], help="name=scp, one per feature store")
    ap.add_argument(
        "--feat-hint",
        default="the feature-dumping stage",
        help="which stage makes the feature stores (named when one is missing)",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--set", action="append", default=[], help="an inference-time model option, e.g. model.tta_speeds=[0.9,1.0,1.1]"
    )
    args = ap.parse_args()
    overrides = parse_overrides(args.set)
    bad = [k for k in overrides if not k.startswith("model.")]
    if bad:
        raise SerError(f"--set {bad[0]}: only model.* options can change at inference")
    infer(
        args.exp_dir,
        args.data_dir,
        args.out_dir,
        FeatStores(args.feat, args.feat_hint),
        pick_device(args.device),
        {k[len("model.") :]: v for k, v in overrides.items()},
    )


if __name__ == "__main__":
    run_main(main)
