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
from pathlib import Path

from ser.features.jobs import add_job_args, job_stem, job_utts, merge_jobs
from ser.features.store import FeatWriter
from ser.utils import SerError, get_logger, run_main

log = get_logger("dump_layer")

FLOAT16_MAX = 65504.0


def trained_upstream(model_dir, device):
    from ser.features.upstream import Upstream
    from ser.train.experiment import load_trained

    model, conf, _ = load_trained(model_dir, device)
    up = getattr(model, "upstream", None)
    if not isinstance(up, Upstream):
        raise SerError(f"{model_dir}: model '{conf['model'].get('name')}' has no `upstream` to dump layers of")
    return up.eval()


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


def frozen_source(args, device):
    """(upstream, meta, fn(wav, lens) -> frames) for the frozen bottom of a pre-trained upstream."""
    from ser.features.upstream import Upstream

    up = (
        Upstream(
            args.upstream,
            args.upstream_path,
            trainable=True,
            trainable_layers=args.trainable_layers,
            exact_batches=True,
        )
        .to(device)
        .eval()
    )
    meta = {
        "kind": "upstream_frozen",
        "upstream": up.name,
        "upstream_path": args.upstream_path,
        "trainable_layers": up.trainable_layers,
        "layer": up.first_trainable,
        "num_layers": 1,
        "dim": up.hidden_size,
        "frame_shift_samples": up.downsample_rate,
        "fingerprint": up.frozen_fingerprint(),
        "store": str(Path(args.out).resolve() / "feats.scp"),
    }
    log.info(
        "frozen bottom of %s: hidden state %d (entering the top %d of %d transformer layers)",
        up.name,
        up.first_trainable,
        up.trainable_layers,
        up.num_layers - 1,
    )

    def run(utt, wav, lens):
        h, _, n = up.forward_frozen(wav, lens)
        return h[0, : int(n[0])]

    return up, meta, run


def model_source(args, device):
    """(upstream, meta, fn(utt, wav, lens) -> frames) for one layer of a trained model's upstream."""
    import torch

    from ser.features.upstream import select_layer
    from ser.train.experiment import FeatStores

    up = trained_upstream(args.model_dir, device)
    layer = select_layer(args.layer, up.num_layers)
    meta = {
        "kind": "upstream_layer",
        "upstream": up.name,
        "model_dir": str(Path(args.model_dir).resolve()),
        "layer": layer,
        "layer_arg": args.layer,
        "num_layers": 1,
        "dim": up.hidden_size,
        "frame_shift_samples": up.downsample_rate,
        "layer_norm": args.layer_norm,
    }
    stores = FeatStores(args.feat, stage_hint="the frozen-layer dump (ser.bin.dump_layer --upstream)")
    caches = stores.pick(list(stores.scps))
    if up.trainable_layers is not None and layer <= up.first_trainable:
        log.warning(
            "layer %d is frozen (only layers above %d train): its frames are the pre-trained upstream's, "
            "which the model's training never changed",
            layer,
            up.first_trainable,
        )
    cache = next(iter(caches.values())) if caches else None
    if cache is not None and (up.trainable_layers is None or layer < up.first_trainable):
        log.info(
            "%s not used: %s",
            cache.scp,
            "the model trains every layer" if up.trainable_layers is None else f"layer {layer} is below the cached one",
        )
        cache = None
    if cache is not None:
        meta["frozen_cache"] = str(cache.scp.resolve())

    def frames(utt, wav, lens):
        if cache is None:
            hs, n = up(wav, lens)
            return hs[layer][0, : int(n[0])]
        h = torch.from_numpy(cache[utt]).to(device)[None]
        n = torch.tensor([h.shape[1]], device=device)
        top, _ = up.forward_top(h, n)
        return ([h] + top)[layer - up.first_trainable][0]

    def run(utt, wav, lens):
        x = frames(utt, wav, lens)
        return torch.nn.functional.layer_norm(x, x.shape[-1:]) if args.layer_norm else x

    return up, meta, run


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

    from ser.data.audio import load_audio
    from ser.data.datadir import DataDir
    from ser.utils import pick_device, progress

    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, args.nj, args.job)
    torch.set_num_threads(1)
    device = pick_device(args.device)
    up, meta, run = (model_source if args.model_dir else frozen_source)(args, device)
    wav_scp = data.get("wav.scp")
    log.info(
        "job %d/%d: hidden state %d of %s for %d utterances -> %s.{ark,scp}",
        args.job,
        args.nj,
        meta["layer"],
        args.model_dir or args.upstream,
        len(utts),
        stem,
    )
    with torch.no_grad(), FeatWriter(stem, float16=args.float16, meta=meta) as write:
        for utt in progress(utts, desc=f"layer {meta['layer']} job {args.job}/{args.nj}"):
            wav = torch.from_numpy(load_audio(wav_scp[utt], utt=utt)).unsqueeze(0).to(device)
            frames = run(utt, wav, torch.tensor([wav.shape[1]], device=device)).float().cpu().numpy()
            if args.float16 and frames.size and float(abs(frames).max()) > FLOAT16_MAX:
                raise SerError(f"{stem}.ark: '{utt}' has values beyond float16's range; drop --float16")
            write(utt, frames)
    log.info("wrote %d utterances to %s.{ark,scp}", len(utts), stem)
    if args.nj == 1:  # nothing to wait for: spare the caller a merge run
        merge_jobs(args.out, 1)


if __name__ == "__main__":
    run_main(main)
