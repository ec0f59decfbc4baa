"""Multi-scale k-means pseudo-labels: fit on one fold's training frames, label a whole store.

  python -m ser.bin.kmeans --feats dump/hubert/feats.scp --layer 9 \\
      --fit-dir data/folds/session/fold1/train --label-all \\
      --ks 64,512,4096 --backend faiss --seed 0 --out exp/gmp/fold1/kmeans

Writes to --out: km_k{K}.npz (centroids + settings), labels_k{K}.{ark,scp,utt2num_frames} (int32,
one label per frame, same frame counts as the store), labels_k{K}.stats.json (cluster usage),
fit_utts and fit_info.json (which utterances and speakers the fit saw). Only --fit-dir utterances
are ever sampled for fitting, so a fold's test speakers never shape the codebooks. A scale whose
model and labels exist is skipped; models are refitted only when missing, from the same seeded
sample, so a resumed run gives the same result as an uninterrupted one.
"""

import argparse

from ser.cluster.pseudo_labels import parse_ks, pseudo_labels
from ser.utils import SerError, get_logger, run_main

log = get_logger("bin.kmeans")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feats", required=True, help="feature store scp")
    ap.add_argument(
        "--layer", type=int, default=None, help="layer index (negative from the top) of a multi-layer upstream dump"
    )
    ap.add_argument("--fit-dir", required=True, help="data dir whose utterances alone are used for fitting")
    ap.add_argument("--label-dirs", default=None, help="comma-separated data dirs whose utterances get labels")
    ap.add_argument("--label-all", action="store_true", help="label every utterance of the store")
    ap.add_argument("--ks", default="64,512,4096")
    ap.add_argument("--backend", default="faiss", choices=["faiss", "torch"])
    ap.add_argument(
        "--max-fit-frames",
        type=int,
        default=None,
        help="frames sampled for fitting, shared by all scales (default: 256 x the largest K, "
        "at least 1048576, or all the fit frames if fewer)",
    )
    ap.add_argument("--niter", type=int, default=20, help="most Lloyd's iterations per scale")
    ap.add_argument(
        "--tol",
        type=float,
        default=5e-4,
        help="stop the warm-up once an iteration gains less than this (relative); 0: run all",
    )
    ap.add_argument("--schedule", default="progressive", choices=["progressive", "full"])
    ap.add_argument(
        "--n-init",
        type=int,
        default=None,
        help="seedings tried per scale, the best kept (default: 3 for 256 <= K <= 1024, else 1)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--num-threads", type=int, default=0, help="CPU threads for torch/faiss (0: library default)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    if bool(args.label_dirs) == args.label_all:
        raise SerError("give exactly one of --label-dirs DIR[,DIR...] and --label-all")
    ks = parse_ks(args.ks)
    if args.num_threads > 0:
        import torch

        torch.set_num_threads(args.num_threads)
        try:
            import faiss

            faiss.omp_set_num_threads(args.num_threads)
        except ImportError:
            pass
    pseudo_labels(
        args.feats,
        args.layer,
        args.fit_dir,
        None if args.label_all else [d.strip() for d in args.label_dirs.split(",")],
        ks,
        args.out,
        max_fit_frames=args.max_fit_frames,
        backend=args.backend,
        niter=args.niter,
        tol=args.tol,
        schedule=args.schedule,
        n_init=args.n_init,
        seed=args.seed,
        device=args.device,
    )


if __name__ == "__main__":
    run_main(main)
