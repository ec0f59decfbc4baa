"""Dumps frame features of a data dir to ark/scp, one job's share at a time.

  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --kind fbank --nj 4 --job 2
  python -m ser.bin.dump_feats --data-dir data/all --out dump/fbank --nj 4 --merge

Job J writes <out>/feats.J.{ark,scp} atomically and is skipped when they exist, so a killed
stage resumes where it stopped. `--kind upstream` stores every hidden layer of an s3prl upstream
side by side in one row (frames x layers*dim) with the layout in feats.meta.json.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from ser.data.audio import load_audio
from ser.data.datadir import DataDir
from ser.features.classical import get_extractor
from ser.features.store import FeatWriter, merge_scps
from ser.utils import SerError, get_logger, progress, run_main

log = get_logger("dump_feats")


def job_utts(utts, nj: int, job: int):
    """Contiguous near-equal shares, like split_scp."""
    if not 1 <= job <= nj:
        raise SerError(f"--job {job} is outside 1..{nj}")
    bounds = np.linspace(0, len(utts), nj + 1).astype(int)
    return utts[bounds[job - 1]:bounds[job]]


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
    ap.add_argument("--kind", default="fbank", help="fbank, mfcc, mel, stf or upstream")
    ap.add_argument("--upstream", default=None, help="s3prl upstream name (with --kind upstream)")
    ap.add_argument("--upstream-path", default=None, help="local checkpoint for *_local / *_custom upstreams")
    ap.add_argument("--layers", default="all", help="'all' or comma-separated layer indices (negative from the top)")
    ap.add_argument("--float16", action="store_true", help="store half precision (halves the ark size)")
    ap.add_argument("--nj", type=int, default=1)
    ap.add_argument("--job", type=int, default=1)
    ap.add_argument("--merge", action="store_true", help="merge the nj job scps into feats.scp")
    args = ap.parse_args()
    out = Path(args.out)

    if args.merge:
        merge_scps([out / f"feats.{j}.scp" for j in range(1, args.nj + 1)], out / "feats.scp")
        log.info("merged %d jobs into %s", args.nj, out / "feats.scp")
        return
    stem = out / f"feats.{args.job}"
    if (out / f"feats.{args.job}.scp").is_file():
        log.info("job %d/%d already done (%s.scp); skipping", args.job, args.nj, stem)
        return
    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    torch.set_num_threads(1)
    if args.kind == "upstream":
        if not args.upstream:
            raise SerError("--kind upstream needs --upstream NAME")
        extract, meta = upstream_extractor(args.upstream, args.upstream_path, args.layers)
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
