"""Dumps token-level text features of a data dir's transcripts to ark/scp, one job's share at a time.

  python -m ser.bin.dump_text --data-dir data/all --out dump/text_minilm --nj 2 --job 1
  python -m ser.bin.dump_text --data-dir data/all --out dump/text_minilm --nj 2 --merge
  python -m ser.bin.dump_text ... --encoder microsoft/deberta-v3-large --layers -1 --float16

Each utterance gets one row per token of its transcript (see ser.features.text: special tokens
cut off unless --keep-special-tokens), so `feats.utt2num_frames` holds the tokenizer's lengths.
A transcript that is empty (or the placeholder `<unk>` the IEMOCAP prep writes for one) is stored
as a 0-row matrix; the models mask it. To drop such utterances instead, run
`python -m ser.bin.empty_text --mode drop` on the data dirs first.
Job J writes <out>/feats.J.{ark,scp} atomically and is skipped when they exist.
"""

import argparse

import torch

from ser.data.datadir import DataDir
from ser.features.jobs import add_job_args, job_stem, job_utts, merge_jobs
from ser.features.text import TextEncoder, dump_transcripts
from ser.utils import get_logger, pick_device, run_main

log = get_logger("dump_text")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--encoder", default="", help="hub name or local folder; empty: the packaged all-MiniLM-L6-v2")
    ap.add_argument(
        "--layers",
        default="all",
        help="'all' or comma-separated hidden-state indices (0 = embedding output, negative from the top)",
    )
    ap.add_argument("--keep-special-tokens", action="store_true", help="keep the [CLS]/[SEP] rows")
    ap.add_argument("--max-length", type=int, default=None, help="token cap (default: the model's)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="auto")
    add_job_args(ap)
    args = ap.parse_args()

    if args.merge:
        return merge_jobs(args.out, args.nj)
    stem = job_stem(args.out, args.job, args.nj)
    if stem is None:
        return
    data = DataDir.load(args.data_dir, allow_empty_text=True)
    text = data.get("text")
    utts = job_utts(data.utts, args.nj, args.job)
    torch.set_num_threads(1)
    encoder = TextEncoder(
        args.encoder,
        layers=args.layers,
        keep_special_tokens=args.keep_special_tokens,
        max_length=args.max_length,
        device=pick_device(args.device),
    )
    log.info(
        "text encoder %s: %d of %d hidden states x %d dims per token",
        encoder.source,
        encoder.num_layers,
        encoder.total_layers,
        encoder.hidden_size,
    )
    dump_transcripts(encoder, text, utts, stem, args.float16, args.batch_size, desc=f"text job {args.job}/{args.nj}")
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)


if __name__ == "__main__":
    run_main(main)
