"""A learnable front end on the raw waveform: strided 1-D convolutions, as wav2vec 2.0's feature
encoder (Baevski et al. 2020) but small and trained from scratch with the rest of the model.

Each layer is Conv1d (no padding) -> LayerNorm over channels -> GELU. The default strides multiply
to 160 samples, so frames come every 10 ms at 16 kHz like the Kaldi features; the receptive field
is 240 samples (15 ms). LayerNorm over channels (wav2vec 2.0's "layer_norm" mode) rather than its
GroupNorm over time keeps padding out of every real frame's statistics.
"""

import torch
from torch import nn

from ser.nn.pooling import lengths_to_mask

DEFAULT_LAYERS = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2))


class _ChannelNorm(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):  # (B, C, T)
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ConvFrontend(nn.Module):
    """forward(wav (B, S), wav_lens (B,)) -> (frames (B, T, dim), frame lengths (B,)).

    `layers` lists (kernel, stride) pairs; a frame exists only where its whole receptive field
    lies inside the real samples, so padding never reaches a real frame. With `normalize`, each
    waveform is first scaled to zero mean and unit variance over its real samples (as wav2vec 2.0's
    feature extractor does), so recording level does not set the activations' scale.
    """

    def __init__(
        self, dim: int = 128, channels: int = 64, layers=DEFAULT_LAYERS, normalize: bool = True, dropout: float = 0.0
    ):
        super().__init__()
        self.kernels_strides = [(int(k), int(s)) for k, s in layers]
        if not self.kernels_strides:
            raise ValueError("ConvFrontend needs at least one (kernel, stride) layer")
        self.normalize = normalize
        blocks, c_in = [], 1
        for k, s in self.kernels_strides:
            blocks.append(
                nn.Sequential(nn.Conv1d(c_in, channels, k, stride=s, bias=False), _ChannelNorm(channels), nn.GELU())
            )
            c_in = channels
        self.convs = nn.ModuleList(blocks)
        self.proj = nn.Linear(channels, dim)
        self.dropout = nn.Dropout(dropout)

    @property
    def frame_shift(self) -> int:
        """Samples per output frame."""
        shift = 1
        for _, s in self.kernels_strides:
            shift *= s
        return shift

    @property
    def receptive_field(self) -> int:
        field, jump = 1, 1
        for k, s in self.kernels_strides:
            field += (k - 1) * jump
            jump *= s
        return field

    def output_lengths(self, wav_lens: torch.Tensor) -> torch.Tensor:
        lens = wav_lens.clone()
        for k, s in self.kernels_strides:
            lens = torch.div(lens - k, s, rounding_mode="floor") + 1
        return lens.clamp(min=0)

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor):
        mask = lengths_to_mask(wav_lens, wav.shape[1]).to(wav.dtype)
        if self.normalize:
            n = mask.sum(1, keepdim=True).clamp(min=1.0)
            mean = (wav * mask).sum(1, keepdim=True) / n
            var = (((wav - mean) * mask) ** 2).sum(1, keepdim=True) / n
            wav = (wav - mean) / torch.sqrt(var + 1e-7) * mask
        if wav.shape[1] < self.receptive_field:  # too short for one frame: pad so the convs still run
            wav = nn.functional.pad(wav, (0, self.receptive_field - wav.shape[1]))
        x = wav.unsqueeze(1)
        for conv in self.convs:
            x = conv(x)
        x = self.dropout(self.proj(x.transpose(1, 2)))
        lens = self.output_lengths(wav_lens).clamp(max=x.shape[1])
        return x * lengths_to_mask(lens, x.shape[1]).unsqueeze(-1).to(x.dtype), lens
