"""Packs a trained system into one archive that loads without the recipe directory (ser.packing):
the best fold's model (by test UA) or every fold's as an ensemble, each member's config, classes,
feature recipe and normalisation statistics, a fused system's member weights and class priors,
RESULTS.md, the format version; upstream checkpoints by path and sha256 (embedded when small).

  python -m ser.bin.pack --folds-root data/folds/emobox --folds "1 2 3 4" [--select best|all|<k>] \\
      [--groups "exp/x/a,exp/x/b exp/x/c" --balance true] --out exp/x/fusion/model.pack.zip exp/x/fusion
"""

import argparse

from ser.packing.build import Unpackable, pack_system
from ser.utils import SerError, get_logger, run_main

log = get_logger("pack")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("system_dir", help="the system's experiment dir (fold<k>/ inside; a fusion's dir for a fusion)")
    ap.add_argument("--out", required=True, help="the archive written (.zip)")
    ap.add_argument("--folds-root", required=True, help="data/folds/<scheme> (class priors of a balanced fusion)")
    ap.add_argument("--folds", required=True, help='the folds trained, e.g. "1 2 3 4"')
    ap.add_argument("--select", default="best", help="best (highest test UA), all (an ensemble), or a fold number")
    ap.add_argument("--groups", default="", help="a fused system's members: 'a,b c' (groups weigh equally)")
    ap.add_argument("--balance", default="false", choices=("true", "false"), help="the fusion divides by priors")
    ap.add_argument("--name", help="the system's name (default: the dir's name)")
    ap.add_argument("--embed-max-mb", type=float, default=50.0, help="upstream checkpoints up to this size go inside")
    ap.add_argument(
        "--if-packable",
        action="store_true",
        help="a system that needs more than a recording (transcripts, speaker statistics) is reported, "
        "not an error (stage 5 of a recipe)",
    )
    args = ap.parse_args(argv)
    folds = args.folds.split()
    if not folds:
        raise SerError("--folds is empty")
    groups = [g.split(",") for g in args.groups.split()] or None
    try:
        pack_system(
            args.out,
            args.system_dir,
            args.folds_root,
            folds,
            args.select,
            groups,
            args.balance == "true",
            args.name,
            args.embed_max_mb,
        )
    except Unpackable as e:
        if not args.if_packable:
            raise
        log.warning("%s not packed: %s", args.system_dir, e)


if __name__ == "__main__":
    run_main(main)
