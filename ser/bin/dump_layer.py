"""Dumps the frame features of one hidden layer of a trained model's upstream (e.g. the fine-tuned
HuBERT of GMP-ATL phase 1) for every utterance of a data dir, one job's share at a time.

  python -m ser.bin.dump_layer --model-dir exp/gmp_atl/phase1/fold1 --layer -3 --data-dir data/all \
      --out dump/gmp_atl/layer-3/fold1 --nj 2 --job 1 [--float16]
  python -m ser.bin.dump_layer --out dump/gmp_atl/layer-3/fold1 --nj 2 --merge

The model is rebuilt from <model-dir>/config.yaml and model.best.pt, so the dump holds the upstream
as that training left it (fine-tuned or not). Layer indices count s3prl's hidden states (index 0
is the transformer's input, -1 the top layer). Each utterance is run alone, so its frame count is
s3prl's (samples - 1) // 320 + 1, the count every later stage aligns to. Job J writes
<out>/feats.J.{ark,scp} atomically and is skipped when they exist, so a killed stage resumes; with
--nj 1 the job also writes the merged feats.scp.
"""

import argparse
from pathlib import Path

from ser.features.jobs import add_job_args, job_stem, job_utts, merge_jobs
from ser.features.store import FeatWriter
from ser.utils import SerError, get_logger, run_main

log = get_logger("dump_layer")


def trained_upstream(model_dir, device):
    from ser.bin.infer import load_trained
    from ser.features.upstream import Upstream

    model, conf, _ = load_trained(model_dir, device)
    up = getattr(model, "upstream", None)
    if not isinstance(up, Upstream):
        raise SerError(f"{model_dir}: model '{conf['model'].get('name')}' has no `upstream` to dump layers of")
    return up.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="a trained fold dir (config.yaml, info.json, model.best.pt)")
    ap.add_argument("--layer", type=int, default=-1, help="hidden-state index; negative counts from the top")
    ap.add_argument("--data-dir")
    ap.add_argument("--out", required=True)
    add_job_args(ap)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    if args.merge:
        return merge_jobs(args.out, args.nj)
    if not args.model_dir or not args.data_dir:
        raise SerError("--model-dir and --data-dir are needed (unless --merge)")
    stem = job_stem(args.out, args.job, args.nj)
    if stem is None:
        if args.nj == 1:
            merge_jobs(args.out, 1)
        return
    # Heavy imports only here: the merge step needs none of them.
    import torch
    from ser.data.audio import load_audio
    from ser.data.datadir import DataDir
    from ser.features.upstream import select_layer
    from ser.utils import pick_device, progress

    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    torch.set_num_threads(1)
    device = pick_device(args.device)
    up = trained_upstream(args.model_dir, device)
    layer = select_layer(args.layer, up.num_layers)
    meta = {"kind": "upstream_layer", "upstream": up.name, "model_dir": str(Path(args.model_dir).resolve()),
            "layer": layer, "layer_arg": args.layer, "num_layers": 1, "dim": up.hidden_size,
            "frame_shift_samples": up.downsample_rate}
    wav_scp = data.get("wav.scp")
    log.info("job %d/%d: layer %d (of %d) of %s for %d utterances -> %s.{ark,scp}", args.job, args.nj, layer,
             up.num_layers, args.model_dir, len(utts), stem)
    with torch.no_grad(), FeatWriter(stem, float16=args.float16, meta=meta) as write:
        for utt in progress(utts, desc=f"layer {args.layer} job {args.job}/{args.nj}"):
            wav = torch.from_numpy(load_audio(wav_scp[utt], utt=utt)).unsqueeze(0).to(device)
            hs, lens = up(wav, torch.tensor([wav.shape[1]], device=device))
            write(utt, hs[layer][0, : int(lens[0])].float().cpu().numpy())
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)
    if args.nj == 1:  # nothing to wait for: spare the caller a merge run
        merge_jobs(args.out, 1)


if __name__ == "__main__":
    run_main(main)
