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
import json
from pathlib import Path

from ser.cluster.frames import LayerView, check_utts
from ser.cluster.kmeans import KMeans, default_max_fit_frames, fit_multiscale
from ser.cluster.labels import label_store
from ser.data.datadir import DataDir, c_sorted, read_kv
from ser.features.store import FeatReader
from ser.utils import SerError, get_logger, run_main, write_text_atomic

log = get_logger("bin.kmeans")


def parse_ks(text: str) -> list:
    try:
        ks = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1 or len(set(ks)) != len(ks):
        raise SerError(f"--ks wants distinct positive integers like 64,512,4096, got '{text}'")
    return ks


def open_frames(scp: str, layer):
    reader = FeatReader(scp, stage_hint="the feature dump stage (ser.bin.dump_feats)")
    if layer is not None:
        return LayerView(reader, layer)
    if int(reader.meta.get("num_layers", 1)) > 1:
        raise SerError(f"{scp} stores {reader.meta['num_layers']} layers side by side; pick one with --layer")
    return reader


def labels_done(out: Path, k: int, utts) -> bool:
    scp, stats = out / f"labels_k{k}.scp", out / f"labels_k{k}.stats.json"
    return (out / f"km_k{k}.npz").is_file() and scp.is_file() and stats.is_file() and set(read_kv(scp)) == set(utts)


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
    out = Path(args.out)
    reader = open_frames(args.feats, args.layer)

    fit_data = DataDir.load(args.fit_dir)
    fit_utts = check_utts(reader, fit_data.utts)
    speakers = sorted(set(fit_data.utt2spk.values()))
    if args.label_all:
        label_utts = reader.keys()
    else:
        label_utts = set()
        for d in args.label_dirs.split(","):
            label_utts.update(DataDir.load(d.strip()).utts)
        label_utts = check_utts(reader, c_sorted(label_utts))
    max_fit_frames = args.max_fit_frames or default_max_fit_frames(ks)
    fit_record = {
        "feats": str(Path(args.feats).resolve()),
        "layer": args.layer,
        "fit_dir": str(args.fit_dir),
        "num_fit_utts": len(fit_utts),
        "fit_speakers": speakers,
        "max_fit_frames": max_fit_frames,
        "seed": args.seed,
        "backend": args.backend,
        "niter": args.niter,
        "tol": args.tol,
        "schedule": args.schedule,
    }
    log.info(
        "fitting on %d utterances of %d speakers from %s: %s",
        len(fit_utts),
        len(speakers),
        args.fit_dir,
        " ".join(speakers),
    )
    log.info("labelling %d utterances; outputs go to %s", len(label_utts), out)

    record_path = out / "fit_info.json"
    if record_path.is_file():
        old = json.loads(record_path.read_text())
        changed = {key for key in fit_record if key != "fit_dir" and old.get(key) != fit_record[key]}
        if changed:
            raise SerError(
                f"{out} holds k-means fitted with other settings ({', '.join(sorted(changed))} differ); "
                "remove it or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "fit_utts", "".join(u + "\n" for u in fit_utts))
    write_text_atomic(record_path, json.dumps(fit_record, indent=1))

    todo = [k for k in ks if not labels_done(out, k, label_utts)]
    for k in ks:
        if k not in todo:
            log.info("K=%d: %s and its labels exist; skipping", k, out / f"km_k{k}.npz")
    if not todo:
        return
    to_fit = [k for k in todo if not (out / f"km_k{k}.npz").is_file()]
    models = {}
    if to_fit:
        fitted = fit_multiscale(
            reader,
            fit_utts,
            to_fit,
            max_fit_frames=max_fit_frames,
            backend=args.backend,
            seed=args.seed,
            niter=args.niter,
            tol=args.tol,
            schedule=args.schedule,
            n_init=args.n_init,
            device=args.device,
        )
        for km in fitted:
            km.save(out / f"km_k{km.k}.npz")
            log.info("K=%d: saved %s", km.k, out / f"km_k{km.k}.npz")
            models[km.k] = km
    for k in todo:
        if k not in models:
            models[k] = KMeans.load(out / f"km_k{k}.npz", backend=args.backend, device=args.device)
    stats = label_store(reader, label_utts, [models[k] for k in todo], out)
    for k, s in stats.items():
        write_text_atomic(out / f"labels_k{k}.stats.json", json.dumps(s, indent=1))
    summary = {k: json.loads((out / f"labels_k{k}.stats.json").read_text()) for k in ks}
    log.info(
        "cluster usage: %s",
        "; ".join(f"K={k}: {s['used_clusters']} used, perplexity {s['perplexity']:.1f}" for k, s in summary.items()),
    )


if __name__ == "__main__":
    run_main(main)
