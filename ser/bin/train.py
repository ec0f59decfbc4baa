"""Trains one model on one fold from a YAML config (+ overlays + --set); resumes from the last
checkpoint. Any model of ser.models (ser.train.experiment asks the model class for what differs).

  python -m ser.bin.train --config conf/train.yaml [--overlay conf/tuning/no_swfc.yaml ...] \
      --train-dir data/folds/session/fold1/train --valid-dir data/folds/session/fold1/valid \
      --feat ssl=dump/hubert/feats.scp --exp-dir exp/x/fold1 [--set train.lr=1e-3 ...] \
      [--infer-data data/folds/session/fold1/test --infer-out exp/x/fold1/infer_test]
  python -m ser.bin.train --config conf/train.yaml [--overlay ...] [--set ...] --print-config
Data-parallel: the same command under torchrun (scripts/torchrun.sh --ngpu N ser.bin.train ...);
train.batch_size stays the global batch, rank 0 writes (ser.train.distributed).
"""

import argparse
import sys

import yaml

from ser.config import parse_overrides
from ser.train import distributed
from ser.train.experiment import FeatStores, infer, load_run_config, train
from ser.utils import SerError, run_main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument(
        "--overlay",
        action="append",
        default=[],
        help="yaml holding only the keys that change (an ablation, a size); applied in order",
    )
    ap.add_argument("--set", action="append", default=[], help="override a config key, e.g. train.lr=1e-3 (last)")
    ap.add_argument(
        "--print-config",
        "--print_config",
        action="store_true",
        help="print the config after defaults, overlays and --set, and exit",
    )
    ap.add_argument("--train-dir")
    ap.add_argument("--valid-dir")
    ap.add_argument("--exp-dir")
    ap.add_argument("--feat", action="append", default=[], help="name=scp, one per feature store")
    ap.add_argument(
        "--feat-hint",
        default="the feature-dumping stage",
        help="which stage makes the feature stores (named when one is missing)",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        default=True,
        help="continue from exp-dir/checkpoint.last.pt when it exists (the default)",
    )
    ap.add_argument("--no-resume", dest="resume", action="store_false", help="start over, ignoring checkpoints")
    ap.add_argument(
        "--restart-finished",
        action="store_true",
        help="when the last checkpoint is of a finished run, train again from the start instead of "
        "doing nothing (an interrupted run still resumes)",
    )
    ap.add_argument("--infer-data", help="after training, predict this data dir (e.g. the fold's test set)")
    ap.add_argument("--infer-out", help="output dir of those predictions")
    args = ap.parse_args()

    conf = load_run_config(args.config, args.overlay, parse_overrides(args.set))
    if args.print_config:
        yaml.safe_dump(conf, sys.stdout, sort_keys=False)
        return
    missing = [f"--{a.replace('_', '-')}" for a in ("train_dir", "valid_dir", "exp_dir") if not getattr(args, a)]
    if missing:
        raise SerError(f"training needs {', '.join(missing)}")
    if bool(args.infer_data) != bool(args.infer_out):
        raise SerError("--infer-data and --infer-out go together")
    feats = FeatStores(args.feat, args.feat_hint)
    trainer = train(
        conf,
        args.train_dir,
        args.valid_dir,
        args.exp_dir,
        feats,
        resume=args.resume,
        restart_finished=args.restart_finished,
    )
    distributed.cleanup()
    if args.infer_data and distributed.is_main_process():
        infer(args.exp_dir, args.infer_data, args.infer_out, feats, trainer.device if trainer else "cpu")


if __name__ == "__main__":
    run_main(main)
