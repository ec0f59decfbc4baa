"""Upstreams behind one wrapper: s3prl hub names, local checkpoints, download-free features, and
Whisper's encoder (ser.features.whisper), which s3prl does not have.

`Upstream` returns every hidden layer; `select_layer` resolves negative indices; `WeightedLayerSum`
(in ser.nn.layer_sum) mixes layers like s3prl's Featurizer, for dumped and online features alike.

Partial fine-tuning (`Upstream(name, path, trainable=True, trainable_layers=N)`): only the top N
transformer layers (and the final layer norm when it follows them) train; everything below stays
frozen and in eval mode. The frozen part then gives the same output every epoch, so it can be run
once and cached (`forward_frozen`), and training runs only the top (`forward_top`) from the cache.
Supported: Whisper's encoder, transformers HuBERT/wav2vec 2.0 (`hf_*_custom`) and s3prl's
fairseq-style HuBERT/wav2vec 2.0 experts; anything else is a SerError. In this mode the frames are
the transformer's own (s3prl's one or two repeated tail frames are cut), so cached and online runs
agree exactly.

Batches (`exact_batches=True`): some upstreams' output depends on the padding of the batch an
utterance is in (a GroupNorm conv front end normalises over the padded length: HuBERT and wav2vec 2.0
base). Such an upstream is found by a probe (two noise clips alone and as one batch) and then run one
utterance at a time, so training, inference and per-utterance dumps see the same features.
"""

import hashlib

import torch
from torch import nn

from ser.features.checkpoints import load_s3prl_upstream
from ser.utils import SerError, get_logger

log = get_logger("upstream")

# Upstreams computed from the waveform by fixed DSP: nothing to download, nothing to train.
FEATURE_ONLY = {"fbank", "fbank_no_cmvn", "mfcc", "mel", "linear", "spectrogram", "stft_mag"}
# Parameters that are not part of the pre-trained bottom even when they sit below the trainable layers.
MASK_EMBEDDINGS = ("mask_emb", "masked_spec_embed", "mask_embed")
PROBE_SAMPLES = (24123, 12045)  # 1.5 s and 0.75 s, multiples of no hop or conv stride
PROBE_TOLERANCE = 1e-3  # relative; batched float rounding is ~1e-7, padding effects are ~1


def load_upstream(name: str, path: str | None = None) -> nn.Module:
    """The model behind an upstream name: Whisper's encoder for `whisper_*`, else s3prl's."""
    from ser.features.whisper import WhisperEncoderUpstream, is_whisper

    if name in FEATURE_ONLY and path:
        raise SerError(
            f"upstream '{name}' is computed from the waveform and takes no checkpoint; drop --upstream_path {path}"
        )
    if is_whisper(name):
        return WhisperEncoderUpstream(name, path)
    return load_s3prl_upstream(name, path)


def select_layer(index: int, num_layers: int) -> int:
    """Python-style index into the hidden layers (-1 is the top one), with a clear range error."""
    if not -num_layers <= index < num_layers:
        raise SerError(f"layer {index} is out of range: this upstream has {num_layers} hidden layers")
    return index % num_layers


def speech_core(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """The speech model inside a loaded upstream and its family: "whisper" (our encoder), "fairseq"
    (s3prl's fairseq-style experts: `feature_extractor`, `encoder`, pre-trained `mask_emb`) or
    "transformers" (HubertModel/Wav2Vec2Model); SerError for anything else."""
    from ser.features.whisper import WhisperEncoderUpstream

    if isinstance(model, WhisperEncoderUpstream):
        return model, "whisper"
    core = getattr(getattr(model, "upstream", None), "model", None)
    usable = (
        name not in FEATURE_ONLY
        and isinstance(core, nn.Module)
        and isinstance(getattr(core, "feature_extractor", None), nn.Module)
        and isinstance(getattr(core, "encoder", None), nn.Module)
    )
    if usable and isinstance(getattr(core, "mask_emb", None), nn.Parameter):
        return core, "fairseq"
    if usable and hasattr(core, "config") and hasattr(core, "_mask_hidden_states"):
        return core, "transformers"
    raise SerError(
        f"upstream '{name}' does not expose a conv feature extractor followed by a trainable "
        "transformer (supported: whisper_*, s3prl's fairseq-style hubert/wav2vec2/wavlm experts, "
        "hf_hubert_custom, hf_wav2vec2_custom)"
    )


def conv_output_lengths(feature_extractor: nn.Module, wav_lens: torch.Tensor) -> torch.Tensor:
    """Exact output frames of a stack of Conv1d layers (in registration order) for sample counts."""
    lens = wav_lens.to(torch.long)
    convs = [m for m in feature_extractor.modules() if isinstance(m, nn.Conv1d)]
    if not convs:
        raise SerError(f"{type(feature_extractor).__name__} has no Conv1d layers to compute frame counts from")
    for c in convs:
        lens = (
            torch.div(
                lens + 2 * c.padding[0] - c.dilation[0] * (c.kernel_size[0] - 1) - 1, c.stride[0], rounding_mode="floor"
            )
            + 1
        )
    return lens.clamp(min=0)


def padding_mask(lens: torch.Tensor, t: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on real frames."""
    return torch.arange(t, device=lens.device)[None, :] < lens.to(torch.long)[:, None]


class LayerStack:
    """The transformer layers of one upstream family, run from a hidden state (partial fine-tuning).

    Hidden state i (as the upstream returns them) enters layer i; `run_top(h, lens, start)` gives
    the hidden states after layers start..L-1 from state `start`, the last one after the final
    layer norm where the family applies one there (`final_norm`)."""

    def __init__(self, core: nn.Module, layers: nn.ModuleList, final_norm: nn.Module | None):
        self.core, self.layers, self.final_norm = core, layers, final_norm

    @property
    def num_blocks(self) -> int:
        return len(self.layers)

    def top_modules(self, n: int) -> list[nn.Module]:
        top = list(self.layers[self.num_blocks - n :])
        return top + ([self.final_norm] if self.final_norm is not None else [])

    def exact_lengths(self, wav_lens: torch.Tensor) -> torch.Tensor:
        return conv_output_lengths(self.core.feature_extractor, wav_lens)

    def run_top(self, h: torch.Tensor, lens: torch.Tensor, start: int) -> list[torch.Tensor]:
        raise NotImplementedError


class WhisperStack(LayerStack):
    def __init__(self, model):
        super().__init__(model, model.encoder.layers, model.encoder.layer_norm)

    def exact_lengths(self, wav_lens):
        return self.core.clip_frames(wav_lens)

    def run_top(self, h, lens, start):
        return self.core.run_top(h, lens, start)


class TransformersStack(LayerStack):
    """HubertModel/Wav2Vec2Model: post-LN encoders normalise before the layers (frozen bottom).
    Stable-layer-norm ones (large models) normalise after the last layer; transformers 4 returned
    that normalised state as the last hidden state, transformers 5 returns the layer's own output
    (its hidden states are recorded from the layers), so the norm trains with the top only in 4."""

    def __init__(self, core):
        import transformers

        stable = bool(getattr(core.config, "do_stable_layer_norm", False))
        normed_last = stable and int(transformers.__version__.split(".")[0]) < 5
        super().__init__(core, core.encoder.layers, core.encoder.layer_norm if normed_last else None)

    def run_top(self, h, lens, start):
        keep = padding_mask(lens.to(h.device), h.shape[1])
        mask = self._attention_mask(h, keep)
        hs = []
        for layer in self.layers[start:]:
            h = layer(h, attention_mask=mask)
            h = h[0] if isinstance(h, tuple) else h
            hs.append(h)
        if self.final_norm is not None:
            hs[-1] = self.final_norm(hs[-1])
        return hs

    def _attention_mask(self, h, keep):
        if bool(keep.all()):
            return None
        try:
            from transformers.masking_utils import create_bidirectional_mask
        except ImportError:  # older transformers: the additive 4-D mask its encoders built themselves
            add = torch.zeros(keep.shape, dtype=h.dtype, device=h.device).masked_fill(~keep, torch.finfo(h.dtype).min)
            return add[:, None, None, :].expand(-1, 1, h.shape[1], -1)
        return create_bidirectional_mask(config=self.core.config, inputs_embeds=h, attention_mask=keep)


class FairseqStack(LayerStack):
    """s3prl's fairseq-style TransformerEncoder: layers take (T, B, C) and a padding mask; with
    `layer_norm_first` the encoder normalises after the last layer."""

    def __init__(self, core, name):
        enc = core.encoder
        if "wavlm" in type(enc).__module__.lower() or not hasattr(enc, "layer_norm_first"):
            raise SerError(
                f"upstream '{name}': partial fine-tuning is not supported for this encoder (WavLM's "
                "layers share a relative position bias computed in the first one); train all layers"
            )
        super().__init__(core, enc.layers, enc.layer_norm if enc.layer_norm_first else None)

    def run_top(self, h, lens, start):
        pad = ~padding_mask(lens.to(h.device), h.shape[1])
        x = h.transpose(0, 1)
        hs = []
        for layer in self.layers[start:]:
            x = layer(x, self_attn_padding_mask=pad if bool(pad.any()) else None, need_weights=False)[0]
            hs.append(x.transpose(0, 1))
        if self.final_norm is not None:
            hs[-1] = self.final_norm(hs[-1])
        return hs


def layer_stack(model: nn.Module, name: str) -> LayerStack:
    """The family adapter partial fine-tuning runs the top layers through; SerError if unsupported."""
    core, family = speech_core(model, name)
    if family == "whisper":
        return WhisperStack(core)
    if family == "transformers":
        return TransformersStack(core)
    return FairseqStack(core, name)


class Upstream(nn.Module):
    """An upstream; `forward(wavs, lens) -> (list of (B, T, D) layers, frame lengths)`.

    `trainable_layers` N (with `trainable`): only the top N transformer layers train (see the module
    docstring). `exact_batches`: an utterance's output never depends on the batch it is in.
    """

    def __init__(
        self,
        name: str,
        path: str | None = None,
        trainable: bool = False,
        trainable_layers: int | None = None,
        exact_batches: bool = False,
    ):
        super().__init__()
        self.name = name
        self.trainable = trainable
        self.model = load_upstream(name, path)
        if trainable and (name in FEATURE_ONLY or not any(p.requires_grad for p in self.model.parameters())):
            raise SerError(
                f"upstream '{name}' has no trainable transformer; a recipe phase that trains "
                "the upstream needs one such as hubert, wavlm_base_plus or hf_hubert_custom"
            )
        for p in self.model.parameters():
            p.requires_grad_(trainable)
        if not trainable:
            self.model.eval()
        self.trainable_layers = None
        self.stack = None
        if trainable_layers is not None:
            self._split(trainable_layers)
        self.one_by_one = exact_batches and self.batch_dependence() > PROBE_TOLERANCE
        if self.one_by_one:
            log.info("upstream '%s': padding changes its features, so utterances run one at a time", name)

    def _split(self, n: int) -> None:
        if not self.trainable:
            raise SerError(
                f"upstream '{self.name}': trainable_layers {n} needs a trainable upstream (finetune_upstream: true)"
            )
        self.stack = layer_stack(self.model, self.name)
        if not isinstance(n, int) or not 1 <= n <= self.stack.num_blocks:
            raise SerError(
                f"trainable_layers must be an integer in 1..{self.stack.num_blocks} (the transformer "
                f"layers of '{self.name}'), got {n!r}"
            )
        self.trainable_layers = n
        for p in self.model.parameters():
            p.requires_grad_(False)
        for m in self.stack.top_modules(n):
            for p in m.parameters():
                p.requires_grad_(True)
        self.model.eval()

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    @property
    def hidden_size(self) -> int:
        return self.model.hidden_sizes[-1]

    @property
    def downsample_rate(self) -> int:
        return self.model.downsample_rates[-1]

    @property
    def first_trainable(self) -> int:
        """Index of the hidden state entering the first trainable layer (the cached one)."""
        if self.trainable_layers is None:
            raise SerError(f"upstream '{self.name}' trains all its layers; nothing below them is frozen")
        return self.num_layers - 1 - self.trainable_layers

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.trainable or self.trainable_layers is not None:
            self.model.eval()  # frozen parts keep dropout off even while the rest trains
        if self.trainable_layers is not None:
            for m in self.stack.top_modules(self.trainable_layers):
                m.train(mode)
        return self

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor):
        if self.trainable:
            hs, lens = self._run(wavs, wav_lens)
        else:
            with torch.no_grad():
                hs, lens = self._run(wavs, wav_lens)
        return hs, lens

    def _run(self, wavs, wav_lens):
        if self.one_by_one and wavs.shape[0] > 1:
            outs = [
                self._run_model(wavs[i : i + 1, : int(n)], wav_lens[i : i + 1]) for i, n in enumerate(wav_lens.tolist())
            ]
            hs = [
                torch.nn.utils.rnn.pad_sequence([o[0][j][0] for o in outs], batch_first=True)
                for j in range(len(outs[0][0]))
            ]
            return hs, torch.cat([o[1] for o in outs])
        return self._run_model(wavs, wav_lens)

    def _run_model(self, wavs, wav_lens):
        hs, lens = self.model(wavs, wav_lens)
        hs, lens = list(hs), lens[-1]
        if self.stack is not None:  # the transformer's own frames: cached and online runs agree
            lens = self.stack.exact_lengths(wav_lens).to(lens.device)
            hs = [h[:, : int(lens.max())] for h in hs]
        return hs, lens

    def forward_frozen(self, wavs: torch.Tensor, wav_lens: torch.Tensor):
        """The frozen bottom: (hidden state entering the first trainable layer, the hidden states
        below it, frame lengths), without gradients. What `forward_top` continues from."""
        k = self.first_trainable
        with torch.no_grad():
            hs, lens = self._run(wavs, wav_lens)
        return hs[k], hs[:k], lens

    def forward_top(self, h: torch.Tensor, lens: torch.Tensor):
        """The trainable top from the state entering its first layer (e.g. read from a cache of
        `forward_frozen`): ([hidden state after each top layer], lengths), as `forward` gives them."""
        if self.stack is None:
            raise SerError(f"upstream '{self.name}' trains all its layers: forward_top needs trainable_layers")
        hs = self.stack.run_top(h, lens, self.first_trainable)
        real = padding_mask(lens.to(h.device), h.shape[1])[..., None].to(h.dtype)
        return [x * real for x in hs], lens  # padded frames zero, as when utterances run alone

    def frozen_fingerprint(self) -> str:
        """A hash of the frozen bottom's weights: a cache of `forward_frozen` is valid only for it."""
        top = {id(p) for m in self.stack.top_modules(self.trainable_layers) for p in m.parameters()}
        sha = hashlib.sha1(f"{self.name} top {self.trainable_layers}".encode())
        for name, p in sorted(self.model.named_parameters()):
            if id(p) in top or name.rsplit(".", 1)[-1] in MASK_EMBEDDINGS:
                continue
            sha.update(name.encode())
            sha.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return sha.hexdigest()

    def batch_dependence(self) -> float:
        """Largest |batched - alone| of two noise clips over any layer, relative to that layer's largest
        value: 0 when padding leaves the features unchanged (seeded, no global RNG used)."""
        g = torch.Generator().manual_seed(0)
        device = next(self.parameters(), torch.empty(0)).device  # DSP upstreams have no parameters
        wavs = [(torch.randn(n, generator=g) * 0.1).to(device) for n in PROBE_SAMPLES]
        lens = torch.tensor(PROBE_SAMPLES, device=device)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                batch, blens = self._run_model(torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True), lens)
                worst = 0.0
                for i, w in enumerate(wavs):
                    alone, alens = self._run_model(w[None], lens[i : i + 1])
                    n = int(alens[0])
                    for a, b in zip(alone, batch):
                        scale = float(a[0, :n].abs().max()) or 1.0
                        worst = max(worst, float((a[0, :n] - b[i, :n]).abs().max()) / scale)
        finally:
            self.train(was_training)
        return worst
