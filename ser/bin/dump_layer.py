"""Dumps the frame features of one hidden layer of an upstream for every utterance of a data dir,
one job's share at a time. Two sources:

  a trained model's upstream (e.g. the fine-tuned HuBERT of GMP-ATL phase 1):
    python -m ser.bin.dump_layer --model-dir exp/gmp_atl/phase1/fold1 --layer -3 --data-dir data/all \\
        --out dump/gmp_atl/layer-3/fold1 --nj 2 --job 1 [--float16] [--feat frozen=dump/frozen/feats.scp]
  the frozen bottom of a pre-trained upstream under partial fine-tuning (the cache training reads):
    python -m ser.bin.dump_layer --upstream whisper_base --trainable-layers 2 --data-dir data/all \\
        --out dump/whisper_base_frozen_top2 --nj 2 --job 1 --float16
  python -m ser.bin.dump_layer --out dump/gmp_atl/layer-3/fold1 --nj 2 --merge

A model is rebuilt from <model-dir>/config.yaml and model.best.pt, so the dump holds the upstream
as that training left it (fine-tuned or not). Layer indices count the upstream's hidden states
(index 0 is the transformer's input, -1 the top layer). Each utterance is run alone, so its frame
count is what the upstream gives for it alone (s3prl's (samples - 1) // 320 + 1 for HuBERT; the
transformer's own frames under partial fine-tuning; Whisper's exact frames), the count every later
stage aligns to. A model trained with partial fine-tuning reads its frozen-layer cache when given
with --feat (as its training and inference did) and runs only its trainable layers.

The frozen-bottom dump stores the hidden state entering the first of the top `--trainable-layers`
layers, with a fingerprint of the frozen weights in feats.meta.json (kind "upstream_frozen"); a
model refuses a cache whose fingerprint is not that of its own frozen layers.

Job J writes <out>/feats.J.{ark,scp} atomically and is skipped when they exist, so a killed stage
resumes; with --nj 1 the job also writes the merged feats.scp.
"""

import argparse

from ser.features.jobs import add_job_args, job_stem, job_utts, merge_jobs
from ser.utils import SerError, get_logger, run_main

log = get_logger("dump_layer")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="a trained fold dir (config.yaml, info.json, model.best.pt)")
    ap.add_argument("--layer", type=int, default=-1, help="hidden-state index; negative counts from the top")
    ap.add_argument(
        "--layer-norm",
        action="store_true",
        help="layer-normalise each frame (no affine) before storing it, e.g. for k-means on a pre-LN "
        "encoder's residual stream, whose few huge dimensions would dominate Euclidean distances",
    )
    ap.add_argument(
        "--feat",
        action="append",
        default=[],
        help="name=scp: the frozen-layer cache a partially fine-tuned model was trained on",
    )
    ap.add_argument("--upstream", help="dump the frozen bottom of this pre-trained upstream (with --trainable-layers)")
    ap.add_argument("--upstream-path", default=None)
    ap.add_argument("--trainable-layers", type=int, help="the top layers that train; the state entering them is dumped")
    ap.add_argument("--data-dir")
    ap.add_argument("--out", required=True)
    add_job_args(ap)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if not args.merge:
        if not args.data_dir or bool(args.model_dir) == bool(args.upstream):
            raise SerError("give --data-dir and exactly one of --model-dir and --upstream (unless --merge)")
        if args.upstream and args.trainable_layers is None:
            raise SerError("--upstream dumps a frozen bottom: give --trainable-layers N")
    return args


def main():
    args = parse_args()
    if args.merge:
        return merge_jobs(args.out, args.nj)
    stem = job_stem(args.out, args.job, args.nj)
    if stem is None:
        if args.nj == 1:
            merge_jobs(args.out, 1)
        return
    # Heavy imports only here: the merge step needs none of them.
    import torch

    from ser.data.datadir import DataDir
    from ser.features.layer_dump import dump_utterances, frozen_source, model_source
    from ser.utils import pick_device

    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    torch.set_num_threads(1)
    device = pick_device(args.device)
    if args.model_dir:
        _, meta, run = model_source(args.model_dir, args.layer, args.layer_norm, args.feat, device)
    else:
        _, meta, run = frozen_source(args.upstream, args.upstream_path, args.trainable_layers, args.out, device)
    log.info(
        "job %d/%d: hidden state %d of %s for %d utterances -> %s.{ark,scp}",
        args.job,
        args.nj,
        meta["layer"],
        args.model_dir or args.upstream,
        len(utts),
        stem,
    )
    desc = f"layer {meta['layer']} job {args.job}/{args.nj}"
    dump_utterances(data.get("wav.scp"), utts, stem, run, meta, args.float16, device, desc)
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)
    if args.nj == 1:  # nothing to wait for: spare the caller a merge run
        merge_jobs(args.out, 1)


if __name__ == "__main__":
    run_main(main)
