"""One hidden layer of an upstream, frame by frame, for every utterance of a job's share: from a
trained model's upstream (fine-tuned or not) or from the frozen bottom of a pre-trained upstream
under partial fine-tuning. See ser.bin.dump_layer for the frame counts and the stores' metadata.
"""

from pathlib import Path

import torch

from ser.data.audio import load_audio
from ser.features.dump import check_float16
from ser.features.store import FeatWriter
from ser.features.upstream import Upstream, select_layer
from ser.train.experiment import FeatStores, load_trained
from ser.utils import SerError, get_logger, progress

log = get_logger("layer_dump")


def trained_upstream(model_dir, device) -> Upstream:
    """The upstream of a trained fold model, as its training left it."""
    model, conf, _ = load_trained(model_dir, device)
    up = getattr(model, "upstream", None)
    if not isinstance(up, Upstream):
        raise SerError(f"{model_dir}: model '{conf['model'].get('name')}' has no `upstream` to dump layers of")
    return up.eval()


def frozen_source(upstream: str, upstream_path, trainable_layers: int, out, device):
    """(upstream, meta, fn(utt, wav, lens) -> frames) for the frozen bottom of a pre-trained upstream."""
    up = (
        Upstream(
            upstream,
            upstream_path,
            trainable=True,
            trainable_layers=trainable_layers,
            exact_batches=True,
        )
        .to(device)
        .eval()
    )
    meta = {
        "kind": "upstream_frozen",
        "upstream": up.name,
        "upstream_path": upstream_path,
        "trainable_layers": up.trainable_layers,
        "layer": up.first_trainable,
        "num_layers": 1,
        "dim": up.hidden_size,
        "frame_shift_samples": up.downsample_rate,
        "fingerprint": up.frozen_fingerprint(),
        "store": str(Path(out).resolve() / "feats.scp"),
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


def model_source(model_dir, layer_arg: int, layer_norm: bool, feat: list, device):
    """(upstream, meta, fn(utt, wav, lens) -> frames) for one layer of a trained model's upstream."""
    up = trained_upstream(model_dir, device)
    layer = select_layer(layer_arg, up.num_layers)
    meta = {
        "kind": "upstream_layer",
        "upstream": up.name,
        "model_dir": str(Path(model_dir).resolve()),
        "layer": layer,
        "layer_arg": layer_arg,
        "num_layers": 1,
        "dim": up.hidden_size,
        "frame_shift_samples": up.downsample_rate,
        "layer_norm": layer_norm,
    }
    stores = FeatStores(feat, stage_hint="the frozen-layer dump (ser.bin.dump_layer --upstream)")
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
        return torch.nn.functional.layer_norm(x, x.shape[-1:]) if layer_norm else x

    return up, meta, run


def dump_utterances(wav_scp: dict, utts, stem, run, meta: dict, float16: bool, device, desc: str) -> None:
    """Runs `run` on each utterance's audio (paths in `wav_scp`) and writes the frames to <stem>.{ark,scp}."""
    with torch.no_grad(), FeatWriter(stem, float16=float16, meta=meta) as write:
        for utt in progress(utts, desc=desc):
            wav = torch.from_numpy(load_audio(wav_scp[utt], utt=utt)).unsqueeze(0).to(device)
            frames = run(utt, wav, torch.tensor([wav.shape[1]], device=device)).float().cpu().numpy()
            if float16:
                check_float16(stem, utt, frames)
            write(utt, frames)
