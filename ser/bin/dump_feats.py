"""Dumps frame features of a data dir to ark/scp, one job's share at a time.

  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --kind fbank --nj 4 --job 2
  python -m ser.bin.dump_feats --data-dir data/all --out dump/hubert --kind upstream --upstream hubert \\
      --device cuda --batch-seconds 120 --float16 --nj 2 --job 1
  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --nj 4 --merge

Job J writes <out>/feats.J.{ark,scp} atomically and is skipped when they exist, so a killed
stage resumes where it stopped. `--kind upstream` stores every hidden layer of an upstream side
by side in one row (frames x layers*dim) with the layout in feats.meta.json, which also records
float16, device, batch_seconds, batch_size and the batching the job used.

Batches (--kind upstream). The upstream and each batch go to --device (auto: CUDA when present);
features come back to the CPU to be written. The job's utterances are sorted by duration (utt2dur,
else the audio headers), longest first, and cut into batches of at most --batch-seconds of padded
audio (batch size x longest clip; whisper_*_padded counts 30 s per clip, as it pads to that;
default 15 s on CPU, where larger batches measured slower, and 60 s on CUDA).
--batch-seconds 0 or --batch-size 1 dumps one by one. The ark is written in batch order; the scp
is sorted as always.

Stored features must not depend on the batch an utterance lands in, and zero padding changes the
output of several upstreams. Measured on 4 noise clips of 0.5-1.5 s padded to 1.5 s, with the tiny
random models of tests/bin/test_dump_feats.py (largest |batched - alone| relative to the layer's
largest value; in brackets the same on 40 RAVDESS clips with hubert-base-shaped and Whisper-base
weights, bench/dump.py):
  fbank (s3prl)       0.8 (0.22)  only the last 2-3 frames: Kaldi gives 1 + (n - 400) // 160 frames,
                                  s3prl's length convention (n - 1) // 160 + 1; alone the missing
                                  frames repeat the last one, in a batch they are zeros
  mel (s3prl)         0.5         every frame: per-utterance CMVN whose statistics include frames
                                  reaching into the padding (log of ~0)
  hf_hubert_custom    1.1 (1.2)   every frame: the conv front end's GroupNorm normalises over the
                                  padded length (as in HuBERT/wav2vec2/WavLM base front ends)
  whisper_* (ours)    2e-7 (3e-5) padding masked (ser.features.whisper); whisper_*_padded: 0
Hence --batching auto (the default) probes the upstream when a job starts: two noise clips alone and
as one padded batch. If any layer differs by more than 1e-3 of its largest value, the job batches
only utterances of equal length (no padding, so the same as one by one up to float rounding; RAVDESS
has many clips of identical length); otherwise it uses padded batches. --batching padded forces
padding (then the features depend on the batch; on a CPU it was not even faster), --batching
equal-length never pads.

Threads: --num-threads (default: $OMP_NUM_THREADS when set, else the usable cores divided by
--nj), because OpenMP threads of several jobs competing for the same cores preempt each other at
every parallel region and can run many times slower than one thread each.
"""

import argparse

from ser.features.dump import BATCHINGS, upstream_job, utterance_job
from ser.features.jobs import add_job_args, add_thread_args, job_stem, job_utts, merge_jobs, set_num_threads
from ser.utils import get_logger, run_main

log = get_logger("dump_feats")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--kind",
        default="fbank",
        help="fbank, mfcc, mel, stf, upstream, or openSMILE functionals (one row per utterance): compare, egemaps",
    )
    ap.add_argument("--upstream", default=None, help="s3prl upstream name or whisper_* (with --kind upstream)")
    ap.add_argument("--upstream-path", default=None, help="local checkpoint for *_local / *_custom upstreams")
    ap.add_argument("--layers", default="all", help="'all' or comma-separated layer indices (negative from the top)")
    ap.add_argument("--device", default="auto", help="upstream device: auto (CUDA when present), cpu, cuda, cuda:1")
    ap.add_argument(
        "--batch-seconds",
        type=float,
        default=None,
        help="padded audio seconds per upstream batch (0: one by one; default: 15 on CPU, 60 on CUDA; "
        "raise it on a GPU with memory to spare)",
    )
    ap.add_argument(
        "--batch-size", type=int, default=0, help="at most this many utterances per batch (0: no limit; 1: one by one)"
    )
    ap.add_argument(
        "--batching",
        default="auto",
        choices=BATCHINGS,
        help="auto: padded batches only if padding leaves this upstream's features unchanged (probed), "
        "else equal-length; see above",
    )
    add_job_args(ap)
    add_thread_args(ap)
    args = ap.parse_args(argv)
    if args.batch_size < 0:
        ap.error("--batch-size must be 0 (no limit) or positive")
    if not args.merge and not args.data_dir:
        ap.error("--data-dir is needed (unless --merge)")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.merge:
        return merge_jobs(args.out, args.nj)
    stem = job_stem(args.out, args.job, args.nj)
    if stem is None:
        return
    from ser.data.datadir import DataDir

    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    threads = set_num_threads(args.num_threads, args.nj)
    log.info("job %d/%d: %d utterances, %d torch threads", args.job, args.nj, len(utts), threads)
    desc = f"{args.upstream if args.kind == 'upstream' else args.kind} job {args.job}/{args.nj}"
    if args.kind == "upstream":
        upstream_job(
            data,
            utts,
            stem,
            args.upstream,
            args.upstream_path,
            args.layers,
            args.device,
            args.float16,
            args.batch_seconds,
            args.batch_size,
            args.batching,
            desc,
        )
    else:
        utterance_job(data, utts, stem, args.kind, args.float16, desc)
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)


if __name__ == "__main__":
    run_main(main)
