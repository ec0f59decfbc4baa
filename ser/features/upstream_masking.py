"""Reaching inside an upstream's transformer: conv features -> span mask -> layers.

HuBERT-style masked prediction replaces some frames of the transformer's input by a learned mask
embedding. s3prl hides that point behind each expert's forward, so `MaskableUpstream` hooks the
transformer encoder's input instead of re-implementing any model; the s3prl forward (normalisation,
padding, hidden-state collection) stays exactly what every other stage sees. Three families are
supported; anything else is a clear error:

  fairseq-style s3prl experts (hubert, hubert_large_ll60k, hubert_local, wav2vec2, wav2vec2_local,
      wavlm, wavlm_base_plus, ...): `expert.model` has `feature_extractor`, `encoder(x, ...)` and
      the pre-trained `mask_emb`; masked frames are the projected conv features, before the
      convolutional positional embedding, as in HuBERT's pre-training;
  transformers experts (hf_hubert_custom, hf_wav2vec2_custom): `expert.model` is a transformers
      HubertModel/Wav2Vec2Model with `feature_extractor`, `encoder(hidden_states, ...)` and
      `masked_spec_embed` (created, randomly initialised like transformers does, when the
      checkpoint's config had no masking and therefore no such parameter);
  Whisper's encoder (whisper_*, ours): no mask embedding was ever trained, so one is created
      (`WhisperEncoderUpstream.enable_masking`); it replaces the masked frames' conv output before
      the sinusoidal positional embedding is added, the point that corresponds to HuBERT's.

Frame counts: the encoder sees exactly the conv output, floor((n - 400) / 320) + 1 frames for n
samples with HuBERT's conv stack, while s3prl reports (n - 1) // 320 + 1 frames (the last one or
two repeat the final conv frame). `conv_lengths` gives the former; masking and any per-frame loss
use only those frames, so s3prl's repeated tail frames are never masked nor predicted. Whisper's
frame counts are exact already (`WhisperEncoderUpstream.clip_frames`).

When the upstream runs one utterance at a time (`Upstream.one_by_one`: its features depend on the
batch's padding), the mask is drawn for the whole batch first and each utterance's encoder call
gets its own row, so masks do not depend on how the upstream is run.
"""

import torch
from torch import nn

from ser.features.upstream import Upstream, conv_output_lengths, speech_core
from ser.utils import SerError, get_logger

log = get_logger("upstream_masking")

SUPPORTED = (
    "hubert",
    "hubert_large_ll60k",
    "hubert_local",
    "wav2vec2",
    "wav2vec2_local",
    "wavlm",
    "wavlm_base_plus",
    "wavlm_local",
    "hf_hubert_custom",
    "hf_wav2vec2_custom",
    "whisper_<size>",
    "whisper_custom",
)


def core_model(upstream: Upstream) -> tuple[nn.Module, str]:
    """The upstream's speech model and its family ("fairseq", "transformers", "whisper"); SerError
    otherwise."""
    try:
        return speech_core(upstream.model, upstream.name)
    except SerError:
        raise SerError(
            f"upstream '{upstream.name}' does not expose a conv feature extractor followed by a trainable "
            f"transformer with a mask embedding, which this phase needs; use one of {', '.join(SUPPORTED)}"
        ) from None


def prepare_for_finetuning(upstream: Upstream, freeze_cnn: bool = True) -> None:
    """Fine-tuning setup shared by every phase that trains the upstream.

    With `freeze_cnn` the conv feature extractor stays frozen (as in HuBERT/wav2vec 2.0 fine-tuning;
    s3prl's fairseq experts already run it without gradients; Whisper's conv1 and conv2); without it,
    it trains too. transformers' own training-time SpecAugment and LayerDrop are switched off: s3prl's
    fairseq experts have neither, and LayerDrop would drop hidden states s3prl counts on, so every
    family fine-tunes the same way.
    """
    try:
        core, family = core_model(upstream)
    except SerError:
        if freeze_cnn:
            log.warning("upstream '%s': no conv feature extractor found; nothing to freeze", upstream.name)
        return
    if family == "whisper":
        if freeze_cnn:
            for conv in (core.encoder.conv1, core.encoder.conv2):
                conv.requires_grad_(False)
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
    calls `make_mask(conv_lens, T)` -> (B, T) bool over the transformer's frames and returns the hidden
    states, the upstream's frame lengths, the conv frame lengths and the mask used. Not an nn.Module:
    it holds no parameters of its own (the mask embedding lives in, and is saved with, the upstream).
    The mask embedding trains even when the layers below it are frozen (partial fine-tuning): it is
    the masking's only input-side parameter, and Whisper's starts untrained.
    """

    def __init__(self, upstream: Upstream):
        self.upstream = upstream
        self.core, self.family = core_model(upstream)
        self._masks = None
        if self.family == "whisper":
            self.emb_name = "mask_embed"
            self.core.enable_masking()
        elif self.family == "transformers":
            self.emb_name = "masked_spec_embed"
            if not isinstance(getattr(self.core, self.emb_name, None), nn.Parameter):
                dim = self.core.config.hidden_size
                self.core.masked_spec_embed = nn.Parameter(torch.empty(dim).uniform_())
                log.info("upstream '%s' had no mask embedding; created one (%d dims)", upstream.name, dim)
            self.core.config.apply_spec_augment = False  # only our mask, never transformers' own
        else:
            self.emb_name = "mask_emb"
        self.mask_embedding.requires_grad_(True)
        if self.family != "whisper":
            self.core.encoder.register_forward_pre_hook(self._mask_encoder_input, with_kwargs=True)

    @property
    def mask_embedding(self) -> nn.Parameter:
        return getattr(self.core, self.emb_name)

    def conv_lengths(self, wav_lens: torch.Tensor) -> torch.Tensor:
        if self.family == "whisper":
            return self.core.clip_frames(wav_lens)
        return conv_output_lengths(self.core.feature_extractor, wav_lens)

    def _mask_encoder_input(self, module, args, kwargs):
        if not self._masks:
            return None
        key = None
        if args:
            x = args[0]
        else:  # called with keywords only
            key = next(k for k in ("hidden_states", "x") if k in kwargs)
            x = kwargs[key]
        mask = self._masks.pop(0).to(x.device)
        if mask.shape[1] > x.shape[1]:
            raise SerError(
                f"upstream '{self.upstream.name}': its encoder got {x.shape[1]} frames, fewer than "
                f"the {mask.shape[1]} its conv stack should give"
            )
        mask = torch.nn.functional.pad(mask, (0, x.shape[1] - mask.shape[1]))  # s3prl's padding of tiny inputs
        x = torch.where(mask.unsqueeze(-1), self.mask_embedding.to(x.dtype), x)
        if key is None:
            return (x, *args[1:]), kwargs
        return args, {**kwargs, key: x}

    def masked_forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor, make_mask):
        conv_lens = self.conv_lengths(wav_lens.cpu())
        mask = make_mask(conv_lens, int(conv_lens.max())).to(wavs.device)
        if self.family == "whisper":
            with self.core.masking(mask):
                hs, lens = self.upstream(wavs, wav_lens)
            return hs, lens, conv_lens.to(wavs.device), mask
        if self.upstream.one_by_one and len(conv_lens) > 1:
            self._masks = [mask[i : i + 1, : int(n)] for i, n in enumerate(conv_lens.tolist())]
        else:
            self._masks = [mask]
        try:
            hs, lens = self.upstream(wavs, wav_lens)
            if self._masks:
                raise SerError(f"upstream '{self.upstream.name}': its encoder was not called with frames to mask")
        finally:
            self._masks = None
        return hs, lens, conv_lens.to(wavs.device), mask
