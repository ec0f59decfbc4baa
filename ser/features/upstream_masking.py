"""Reaching inside an s3prl upstream's transformer: conv feature extractor -> span mask -> layers.

HuBERT-style masked prediction replaces some frames of the transformer's input (the projected conv
features) by a learned mask embedding. s3prl hides that point behind each expert's forward, so
`MaskableUpstream` hooks the transformer encoder's input instead of re-implementing any model; the
s3prl forward (normalisation, padding, hidden-state collection) stays exactly what every other
stage sees. Two model families are supported; anything else is a clear error:

  fairseq-style s3prl experts (hubert, hubert_large_ll60k, hubert_local, wav2vec2, wav2vec2_local,
      wavlm, wavlm_base_plus, ...): `expert.model` has `feature_extractor`, `encoder(x, ...)` and
      the pre-trained `mask_emb`;
  transformers experts (hf_hubert_custom, hf_wav2vec2_custom): `expert.model` is a transformers
      HubertModel/Wav2Vec2Model with `feature_extractor`, `encoder(hidden_states, ...)` and
      `masked_spec_embed` (created, randomly initialised like transformers does, when the
      checkpoint's config had no masking and therefore no such parameter).

Frame counts: the encoder sees exactly the conv output, floor((n - 400) / 320) + 1 frames for n
samples with HuBERT's conv stack, while s3prl reports (n - 1) // 320 + 1 frames (the last one or
two repeat the final conv frame). `conv_lengths` gives the former; masking and any per-frame loss
use only those frames, so s3prl's repeated tail frames are never masked nor predicted.
"""

import torch
from torch import nn

from ser.features.upstream import FEATURE_ONLY, Upstream
from ser.utils import SerError, get_logger

log = get_logger("upstream_masking")

SUPPORTED = ("hubert", "hubert_large_ll60k", "hubert_local", "wav2vec2", "wav2vec2_local", "wavlm",
             "wavlm_base_plus", "wavlm_local", "hf_hubert_custom", "hf_wav2vec2_custom")


def core_model(upstream: Upstream) -> tuple[nn.Module, str]:
    """The expert's speech model and its family ("fairseq" or "transformers"); SerError otherwise."""
    expert = getattr(upstream.model, "upstream", None)
    core = getattr(expert, "model", None)
    usable = (upstream.name not in FEATURE_ONLY and isinstance(core, nn.Module)
              and isinstance(getattr(core, "feature_extractor", None), nn.Module)
              and isinstance(getattr(core, "encoder", None), nn.Module))
    if usable and isinstance(getattr(core, "mask_emb", None), nn.Parameter):
        return core, "fairseq"
    if usable and hasattr(core, "config") and hasattr(core, "_mask_hidden_states"):
        return core, "transformers"
    raise SerError(
        f"upstream '{upstream.name}' does not expose a conv feature extractor followed by a trainable "
        f"transformer with a mask embedding, which this phase needs; use one of {', '.join(SUPPORTED)}")


def conv_output_lengths(feature_extractor: nn.Module, wav_lens: torch.Tensor) -> torch.Tensor:
    """Exact output frames of a stack of Conv1d layers (in registration order) for sample counts."""
    lens = wav_lens.to(torch.long)
    convs = [m for m in feature_extractor.modules() if isinstance(m, nn.Conv1d)]
    if not convs:
        raise SerError(f"{type(feature_extractor).__name__} has no Conv1d layers to compute frame counts from")
    for c in convs:
        lens = torch.div(lens + 2 * c.padding[0] - c.dilation[0] * (c.kernel_size[0] - 1) - 1,
                         c.stride[0], rounding_mode="floor") + 1
    return lens.clamp(min=0)


def prepare_for_finetuning(upstream: Upstream, freeze_cnn: bool = True) -> None:
    """Fine-tuning setup shared by every phase that trains the upstream.

    With `freeze_cnn` the conv feature extractor stays frozen (as in HuBERT/wav2vec 2.0 fine-tuning;
    s3prl's fairseq experts already run it without gradients); without it, it trains too. transformers' own training-time SpecAugment and
    LayerDrop are switched off: s3prl's fairseq experts have neither, and LayerDrop would drop hidden
    states s3prl counts on, so every family fine-tunes the same way.
    """
    try:
        core, family = core_model(upstream)
    except SerError:
        if freeze_cnn:
            log.warning("upstream '%s': no conv feature extractor found; nothing to freeze", upstream.name)
        return
    if family == "transformers":
        core.config.apply_spec_augment = False
        core.config.layerdrop = 0.0
    if freeze_cnn:
        for p in core.feature_extractor.parameters():
            p.requires_grad_(False)
        if hasattr(core.feature_extractor, "_freeze_parameters"):
            core.feature_extractor._freeze_parameters()
    elif family == "fairseq":
        core.feature_grad_mult = 1.0  # s3prl's experts set 0: the conv stack would never get gradients


class MaskableUpstream:
    """Runs an `Upstream` with chosen transformer-input frames replaced by the mask embedding.

    `upstream.forward` is untouched when no mask is asked for; `masked_forward(wavs, lens, make_mask)`
    calls `make_mask(conv_lens, T)` -> (B, T) bool at the encoder input and returns the hidden states,
    s3prl's frame lengths, the conv frame lengths and the mask used. Not an nn.Module: it holds no
    parameters of its own (the mask embedding lives in, and is saved with, the upstream).
    """

    def __init__(self, upstream: Upstream):
        self.upstream = upstream
        self.core, self.family = core_model(upstream)
        if self.family == "transformers":
            self.emb_name = "masked_spec_embed"
            if not isinstance(getattr(self.core, self.emb_name, None), nn.Parameter):
                dim = self.core.config.hidden_size
                self.core.masked_spec_embed = nn.Parameter(torch.empty(dim).uniform_())
                log.info("upstream '%s' had no mask embedding; created one (%d dims)", upstream.name, dim)
            self.core.config.apply_spec_augment = False  # only our mask, never transformers' own
        else:
            self.emb_name = "mask_emb"
        self._request = None
        self._result = None
        self.core.encoder.register_forward_pre_hook(self._mask_encoder_input, with_kwargs=True)

    @property
    def mask_embedding(self) -> nn.Parameter:
        return getattr(self.core, self.emb_name)

    def conv_lengths(self, wav_lens: torch.Tensor) -> torch.Tensor:
        return conv_output_lengths(self.core.feature_extractor, wav_lens)

    def _mask_encoder_input(self, module, args, kwargs):
        if self._request is None:
            return None
        wav_lens, make_mask = self._request
        key = None
        if args:
            x = args[0]
        else:  # called with keywords only
            key = next(k for k in ("hidden_states", "x") if k in kwargs)
            x = kwargs[key]
        t = x.shape[1]
        conv_lens = self.conv_lengths(wav_lens).clamp(max=t)
        mask = make_mask(conv_lens, t).to(x.device)
        x = torch.where(mask.unsqueeze(-1), self.mask_embedding.to(x.dtype), x)
        self._result = (conv_lens.to(x.device), mask)
        if key is None:
            return (x, *args[1:]), kwargs
        return args, {**kwargs, key: x}

    def masked_forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor, make_mask):
        self._request, self._result = (wav_lens, make_mask), None
        try:
            hs, lens = self.upstream(wavs, wav_lens)
        finally:
            self._request = None
        if self._result is None:
            raise SerError(f"upstream '{self.upstream.name}': its encoder was not called with frames to mask")
        conv_lens, mask = self._result
        return hs, lens, conv_lens, mask
