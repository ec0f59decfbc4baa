"""Dumps frame features of a data dir to ark/scp, one job's share at a time.

  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --kind fbank --nj 4 --job 2
  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --nj 4 --merge

Job J writes <out>/feats.J.{ark,scp} atomically and is skipped when they exist, so a killed
stage resumes where it stopped. `--kind upstream` stores every hidden layer of an s3prl upstream
side by side in one row (frames x layers*dim) with the layout in feats.meta.json.
"""

import argparse

import torch

from ser.data.audio import load_audio
from ser.data.datadir import DataDir
from ser.features.classical import get_extractor
from ser.features.functionals import SETS, functionals_extractor
from ser.features.jobs import add_job_args, job_stem, job_utts, merge_jobs
from ser.features.store import FeatWriter
from ser.utils import SerError, get_logger, progress, run_main

log = get_logger("dump_feats")


def upstream_extractor(name, path, layers):
    from ser.features.upstream import Upstream, select_layer

    up = Upstream(name, path, trainable=False)
    chosen = None if layers == "all" else [select_layer(int(x), up.num_layers) for x in str(layers).split(",")]
    n_layers = up.num_layers if chosen is None else len(chosen)
    meta = {"kind": "upstream", "upstream": name, "upstream_path": path, "num_layers": n_layers,
            "dim": up.hidden_size, "layers": chosen or list(range(up.num_layers)),
            "frame_shift_samples": up.downsample_rate}

    def extract(wav):
        x = torch.from_numpy(wav).unsqueeze(0)
        hs, _ = up(x, torch.tensor([x.shape[1]]))
        if chosen is not None:
            hs = [hs[i] for i in chosen]
        return torch.cat([h[0] for h in hs], dim=-1).numpy()

    return extract, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kind", default="fbank", help="fbank, mfcc, mel, stf, upstream, or openSMILE functionals "
                    "(one row per utterance): compare, egemaps")
    ap.add_argument("--upstream", default=None, help="s3prl upstream name (with --kind upstream)")
    ap.add_argument("--upstream-path", default=None, help="local checkpoint for *_local / *_custom upstreams")
    ap.add_argument("--layers", default="all", help="'all' or comma-separated layer indices (negative from the top)")
    add_job_args(ap)
    args = ap.parse_args()

    if args.merge:
        return merge_jobs(args.out, args.nj)
    stem = job_stem(args.out, args.job, args.nj)
    if stem is None:
        return
    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    torch.set_num_threads(1)
    if args.kind == "upstream":
        if not args.upstream:
            raise SerError("--kind upstream needs --upstream NAME")
        extract, meta = upstream_extractor(args.upstream, args.upstream_path, args.layers)
    elif args.kind in SETS:
        if args.float16:
            raise SerError(f"--kind {args.kind}: openSMILE functionals exceed float16's range; drop --float16")
        extract, meta = functionals_extractor(args.kind), {"kind": args.kind, "num_layers": 1, "functionals": True}
    else:
        extract, meta = get_extractor(args.kind), {"kind": args.kind, "num_layers": 1}
    wav_scp = data.get("wav.scp")
    with FeatWriter(stem, float16=args.float16, meta=meta) as write:
        for utt in progress(utts, desc=f"{args.kind} job {args.job}/{args.nj}"):
            feats = extract(load_audio(wav_scp[utt], utt=utt))
            if "dim" not in meta:
                meta["dim"] = int(feats.shape[1])
            write(utt, feats)
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)


if __name__ == "__main__":
    run_main(main)
