"""GMP-ATL (Pan et al., Interspeech 2024): gender-augmented multi-scale pseudo-label adaptive transfer
learning with HuBERT, as three models trained one after another.

  GmpPhase1  upstream -> BiLSTM -> mean pooling -> LinearP -> emotion and gender heads;
             loss alpha * CE_emo + (1 - alpha) * CE_gender (paper eq. 1, alpha 0.9).
  GmpPhase2  the phase-1 upstream retrained HuBERT-style: spans of its transformer input are masked
             and one LinearP head per k-means scale predicts each masked frame's pseudo-label
             (CE summed over scales). Selected on validation loss (`predict` returns "loss").
  GmpPhase3  the phase-2 upstream fine-tuned for utterance emotion: same downstream as phase 1
             (BiLSTM -> mean pooling -> LinearP) with an AM-softmax head (paper eq. 2, m 0.2, s 30).

"LinearP" is the paper's linear projection module: Linear -> ReLU -> Linear. Where the paper is
silent the defaults here are this project's choices; egs/iemocap/gmp_atl/README.md lists them.
Every phase takes `init_from` (a previous phase's model.best.pt) and copies the parts named in
`init_parts` (default: the upstream only; heads of a previous phase solve another task).

Partial fine-tuning (`trainable_layers: N`, default null = every layer trains): only the top N
transformer layers of the upstream train (ser.features.upstream). Phases 1 and 3 then read the
frozen bottom's output from a feature store (`frozen_feat`, default "frozen", dumped once by
`python -m ser.bin.dump_layer --upstream ... --trainable-layers N`) when the data config lists it,
and run only the top; without it they run the whole upstream on the audio. Phase 2 always runs the
whole upstream on the audio: its masking replaces frames of the transformer's INPUT, below the cached
layers, so a cache of the unmasked bottom cannot serve it (see egs/iemocap/gmp_atl/README.md).
"""

import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.features.upstream import Upstream, select_layer
from ser.features.upstream_masking import MaskableUpstream, prepare_for_finetuning
from ser.losses.margin import make_margin_head
from ser.nn.bilstm import BiLSTM
from ser.nn.layer_sum import WeightedLayerSum
from ser.nn.masking import span_mask
from ser.nn.pooling import lengths_to_mask, masked_mean
from ser.nn.projection import LinearProjection
from ser.utils import SerError, get_logger

log = get_logger("gmp_atl")

# Parameters a phase may add that the previous phase never had (transformers HuBERT models without
# masking in their config, and every Whisper, have no mask embedding until phase 2 creates one);
# never required.
OPTIONAL_KEYS = ("masked_spec_embed", "mask_embed")


def make_upstream(name: str, path, trainable: bool, freeze_cnn: bool, trainable_layers: int | None = None) -> Upstream:
    """The phase's upstream; utterances never depend on their batch (`exact_batches`), so training,
    inference and the per-utterance layer dump see the same features."""
    if trainable_layers is not None and not freeze_cnn:
        raise SerError(
            f"trainable_layers {trainable_layers} freezes everything below the top layers, the conv "
            "front end included: it contradicts freeze_cnn: false"
        )
    up = Upstream(name, path, trainable=trainable, trainable_layers=trainable_layers, exact_batches=True)
    if trainable:
        prepare_for_finetuning(up, freeze_cnn=freeze_cnn)
    return up


def frozen_cache(info: dict, up: Upstream, name: str, input_layer) -> str | None:
    """The feature store of the frozen bottom's output this model reads, or None (audio in).

    The store must come from this upstream's frozen layers with these exact weights (its meta
    records a fingerprint of them): a cache of other weights would silently feed the top layers
    states they were never trained on."""
    if up.trainable_layers is None or name not in info.get("feats", {}):
        return None
    meta, k = info["feats"][name], up.first_trainable
    where = f"feature '{name}' ({meta.get('store', 'its feats.scp')})"
    want = {"kind": "upstream_frozen", "upstream": up.name, "trainable_layers": up.trainable_layers, "layer": k}
    wrong = [f"{key} {meta.get(key)!r}, not {v!r}" for key, v in want.items() if meta.get(key) != v]
    if wrong:
        raise SerError(f"{where} is not this upstream's frozen-layer cache: {'; '.join(wrong)}")
    if meta.get("fingerprint") != up.frozen_fingerprint():
        raise SerError(
            f"{where}: the frozen layers' weights differ from those the cache was made from (another "
            "checkpoint, or an earlier phase that trained them): dump it again from these weights"
        )
    if input_layer == "all" or (isinstance(input_layer, int) and select_layer(input_layer, up.num_layers) < k):
        raise SerError(
            f"input_layer {input_layer!r} reads below the cached layer {k}: with {name} only layers "
            f"{k}..{up.num_layers - 1} exist; use one of those or read the audio (no {name} in data.feats)"
        )
    return name


def upstream_states(up: Upstream, batch: dict, cache: str | None):
    """Every hidden state the model may read, and frame lengths: from the audio, or from the cached
    frozen bottom through the trainable top (the frozen layers below the cache are None)."""
    if cache is None:
        return up(batch["wav"], batch["wav_lens"])
    h, lens = batch[cache], batch[f"{cache}_lens"]
    top, lens = up.forward_top(h, lens)
    return [None] * up.first_trainable + [h] + top, lens


def load_parts(model: nn.Module, ckpt_path, parts) -> None:
    """Copies the weights of the sub-modules `parts` (e.g. ["upstream"]) from a saved state dict;
    every weight of those parts must be there with the same shape."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise SerError(f"init_from: {path} not found; train the previous phase first")
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    wanted = {k: v for k, v in own.items() if k.split(".", 1)[0] in parts}
    for part in parts:
        if not any(k.split(".", 1)[0] == part for k in own):
            raise SerError(
                f"init_parts: this model has no part '{part}' (parts: {sorted({k.split('.', 1)[0] for k in own})})"
            )
    missing = [k for k in wanted if k not in state and not k.endswith(OPTIONAL_KEYS)]
    if missing:
        raise SerError(
            f"{path} lacks {len(missing)} weights of {list(parts)} (e.g. {missing[:3]}): was it "
            "trained with the same upstream and sizes?"
        )
    shapes = [k for k in wanted if k in state and state[k].shape != own[k].shape]
    if shapes:
        raise SerError(
            f"{path}: weights of other shapes than this model's, e.g. {shapes[0]} "
            f"{tuple(state[shapes[0]].shape)} vs {tuple(own[shapes[0]].shape)}"
        )
    model.load_state_dict({k: state[k] for k in wanted if k in state}, strict=False)
    log.info("initialised %s from %s", "+".join(parts), path)


class PooledEncoder(nn.Module):
    """Upstream hidden states -> one layer (or a learned mix) -> optional BiLSTM -> mean pooling
    over real frames -> LinearP: (B, proj_dim) per utterance."""

    def __init__(
        self,
        num_layers: int,
        dim: int,
        input_layer,
        bilstm: bool,
        lstm_hidden: int,
        lstm_layers: int,
        proj_hidden: int,
        proj_dim: int,
        dropout: float,
    ):
        super().__init__()
        if input_layer == "all":
            self.layer_sum = WeightedLayerSum(num_layers)
            self.layer = None
        elif isinstance(input_layer, int):
            self.layer_sum = None
            self.layer = select_layer(input_layer, num_layers)
        else:
            raise SerError(f"input_layer must be a layer index or 'all', got {input_layer!r}")
        self.lstm = BiLSTM(dim, lstm_hidden, lstm_layers, dropout) if bilstm else None
        self.proj = LinearProjection(self.lstm.out_dim if bilstm else dim, proj_hidden, proj_dim, dropout)

    def forward(self, hs, lens):
        x = self.layer_sum(hs) if self.layer_sum is not None else hs[self.layer]
        if self.lstm is not None:
            x = self.lstm(x, lens)
        return self.proj(masked_mean(x, lens))


class GmpPhase1(nn.Module):
    def __init__(
        self,
        info: dict,
        upstream: str = "hubert",
        upstream_path: str | None = None,
        finetune_upstream: bool = True,
        freeze_cnn: bool = True,
        input_layer=-1,
        lstm_hidden: int = 256,
        lstm_layers: int = 1,
        proj_hidden: int = 256,
        proj_dim: int = 256,
        dropout: float = 0.1,
        alpha: float = 0.9,
        num_genders: int = 2,
        trainable_layers: int | None = None,
        frozen_feat: str = "frozen",
    ):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise SerError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha
        self.upstream = make_upstream(upstream, upstream_path, finetune_upstream, freeze_cnn, trainable_layers)
        self.cache = frozen_cache(info, self.upstream, frozen_feat, input_layer)
        self.encoder = PooledEncoder(
            self.upstream.num_layers,
            self.upstream.hidden_size,
            input_layer,
            True,
            lstm_hidden,
            lstm_layers,
            proj_hidden,
            proj_dim,
            dropout,
        )
        self.emo_head = nn.Linear(proj_dim, info["num_classes"])
        self.gender_head = nn.Linear(proj_dim, num_genders)

    def embed(self, batch):
        hs, lens = upstream_states(self.upstream, batch, self.cache)
        return self.encoder(hs, lens)

    def forward(self, batch):
        z = self.embed(batch)
        ce_emo = F.cross_entropy(self.emo_head(z), batch["emo"])
        gender = batch.get("gender")
        if gender is not None and bool((gender >= 0).any()):
            ce_gender = F.cross_entropy(self.gender_head(z), gender, ignore_index=-1)
        else:  # no known gender in this batch: the emotion term alone
            ce_gender = z.sum() * 0.0
        loss = self.alpha * ce_emo + (1.0 - self.alpha) * ce_gender
        return {"loss": loss, "logs": {"ce_emo": ce_emo.item(), "ce_gender": ce_gender.item()}}

    def predict(self, batch):
        return {"emo_logits": self.emo_head(self.embed(batch))}


class GmpPhase2(nn.Module):
    def __init__(
        self,
        info: dict,
        upstream: str = "hubert",
        upstream_path: str | None = None,
        init_from: str | None = None,
        init_parts=("upstream",),
        scales=(64, 512, 4096),
        label_prefix: str = "km",
        pred_layer: int = -1,
        proj_hidden: int = 256,
        mask_prob: float = 0.08,
        mask_length: int = 10,
        min_masks: int = 2,
        unmasked_weight: float = 0.0,
        freeze_cnn: bool = True,
        valid_mask_seed: int = 0,
        trainable_layers: int | None = None,
    ):
        super().__init__()
        self.targets = {int(k): f"{label_prefix}{int(k)}" for k in scales}
        missing = [n for n in self.targets.values() if n not in info.get("feats", {})]
        if missing:
            raise SerError(
                f"gmp_atl_phase2 needs the pseudo-label stores {missing} in data.feats "
                "(e.g. --feat km64=.../labels_k64.scp)"
            )
        for k, name in self.targets.items():
            stored_k = info["feats"][name].get("k")  # ser.bin.kmeans records its codebook size
            if stored_k is not None and int(stored_k) != k:
                raise SerError(f"feature '{name}' holds labels of a k = {stored_k} codebook, not {k}")
        self.mask_prob, self.mask_length, self.min_masks = mask_prob, mask_length, min_masks
        self.unmasked_weight = unmasked_weight
        self.valid_mask_seed = valid_mask_seed
        # Masking is at the transformer's input, below any frozen layers: this phase runs the whole
        # upstream on the audio (the frozen layers without weight gradients), never a cache.
        self.upstream = make_upstream(upstream, upstream_path, True, freeze_cnn, trainable_layers)
        self.masker = MaskableUpstream(self.upstream)
        self.pred_layer = select_layer(pred_layer, self.upstream.num_layers)
        dim = self.upstream.hidden_size
        self.heads = nn.ModuleDict({str(k): LinearProjection(dim, proj_hidden, k) for k in self.targets})
        if init_from:
            load_parts(self, init_from, list(init_parts))

    def _objective(self, batch, generator=None):
        def make_mask(conv_lens, t):
            return span_mask(conv_lens, t, self.mask_prob, self.mask_length, self.min_masks, generator)

        hs, _, conv_lens, mask = self.masker.masked_forward(batch["wav"], batch["wav_lens"], make_mask)
        t = mask.shape[1]
        x = hs[self.pred_layer][:, :t]
        usable = conv_lens
        for name in self.targets.values():
            lab_lens = batch[f"{name}_lens"].to(conv_lens.device)
            short = (lab_lens < conv_lens).nonzero().flatten().tolist()
            if short:
                i = short[0]
                raise SerError(
                    f"pseudo-labels '{name}' of {batch['utt'][i]} have {int(lab_lens[i])} frames but "
                    f"the upstream gives {int(conv_lens[i])}: were they made from another upstream?"
                )
            usable = torch.minimum(usable, lab_lens)
        real = lengths_to_mask(usable, t)
        sel_masked, sel_unmasked = real & mask, real & ~mask
        loss = x.sum() * 0.0
        logs = {"masked_frac": float(sel_masked.sum()) / max(int(real.sum()), 1)}
        for k, name in self.targets.items():
            labels = batch[name][:, :t].to(torch.long)
            head = self.heads[str(k)]
            if sel_masked.any():
                logits = head(x[sel_masked])
                ce = F.cross_entropy(logits, labels[sel_masked])
                loss = loss + ce
                logs[f"ce_k{k}"] = ce.item()
                logs[f"acc_k{k}"] = float((logits.argmax(-1) == labels[sel_masked]).float().mean())
            if self.unmasked_weight > 0 and sel_unmasked.any():
                loss = loss + self.unmasked_weight * F.cross_entropy(head(x[sel_unmasked]), labels[sel_unmasked])
        return loss, logs

    def forward(self, batch):
        loss, logs = self._objective(batch)
        return {"loss": loss, "logs": logs}

    def predict(self, batch):
        # The same utterances get the same masks every epoch, so validation losses compare.
        gen = torch.Generator().manual_seed(self.valid_mask_seed + zlib.crc32(" ".join(batch["utt"]).encode()))
        loss, _ = self._objective(batch, gen)
        return {"loss": loss}


class GmpPhase3(nn.Module):
    def __init__(
        self,
        info: dict,
        upstream: str = "hubert",
        upstream_path: str | None = None,
        init_from: str | None = None,
        init_parts=("upstream",),
        finetune_upstream: bool = True,
        freeze_cnn: bool = True,
        input_layer=-1,
        bilstm: bool = True,
        lstm_hidden: int = 256,
        lstm_layers: int = 1,
        proj_hidden: int = 256,
        proj_dim: int = 256,
        dropout: float = 0.1,
        loss: str = "am",
        margin: float = 0.2,
        scale: float = 30.0,
        trainable_layers: int | None = None,
        frozen_feat: str = "frozen",
    ):
        super().__init__()
        self.upstream = make_upstream(upstream, upstream_path, finetune_upstream, freeze_cnn, trainable_layers)
        self.encoder = PooledEncoder(
            self.upstream.num_layers,
            self.upstream.hidden_size,
            input_layer,
            bilstm,
            lstm_hidden,
            lstm_layers,
            proj_hidden,
            proj_dim,
            dropout,
        )
        try:
            self.head = make_margin_head(loss, proj_dim, info["num_classes"], margin, scale)
        except ValueError as e:
            raise SerError(f"gmp_atl_phase3: {e}") from e
        if init_from:
            load_parts(self, init_from, list(init_parts))
        self.cache = frozen_cache(info, self.upstream, frozen_feat, input_layer)  # after init_from: its weights

    def embed(self, batch):
        hs, lens = upstream_states(self.upstream, batch, self.cache)
        return self.encoder(hs, lens)

    def forward(self, batch):
        loss = self.head.loss(self.embed(batch), batch["emo"])
        return {"loss": loss}

    def predict(self, batch):
        return {"emo_logits": self.head(self.embed(batch))}
