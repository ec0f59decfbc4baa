"""Attention blocks for padded sequence batches: self-attention within a sequence, cross-attention
from one sequence to another, and co-attention among several modalities.

Conventions (all blocks):
  * sequences are (B, T, D) with lengths (B,); frames at t >= length are padding;
  * padding never influences a real frame (keys are masked), and every block returns zeros at
    padded frames, so pooling or a later block can treat the output like its input;
  * sequences of different lengths and frame rates mix freely: each has its own padding mask, and
    `frame_shift` (in any common unit, e.g. 10 ms) puts their positional encodings on one time axis.

Building blocks are torch's own (nn.TransformerEncoderLayer, nn.MultiheadAttention), pre-norm.
"""

import math

import torch
from torch import nn

from ser.nn.pooling import lengths_to_mask


def padding_mask(lens: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on PADDED frames (torch's key_padding_mask convention)."""
    return ~lengths_to_mask(lens, max_len)


def zero_padding(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Zeros the padded frames of (B, T, D)."""
    return x * lengths_to_mask(lens, x.shape[1]).unsqueeze(-1).to(x.dtype)


def sinusoidal_positions(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(T,) float positions -> (T, dim) sin/cos encodings (Vaswani et al. 2017)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angle = positions.float()[:, None] * freq[None, :]
    enc = torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)
    return nn.functional.pad(enc, (0, dim - 2 * half))


def _safe_key_mask(mask: torch.Tensor) -> tuple:
    """A key mask with at least one visible key per row (softmax over none would be NaN), and the
    rows that had none, whose attention output the caller must zero."""
    empty = mask.all(dim=1)
    if empty.any():
        mask = mask.clone()
        mask[empty, 0] = False
    return mask, empty


class SelfAttentionEncoder(nn.Module):
    """Sinusoidal positions + `layers` pre-norm transformer layers with key padding masks.

    forward(x (B, T, D), lens (B,), frame_shift=1.0) -> (B, T, D), zeros at padded frames.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        layers: int = 1,
        ff_dim: int | None = None,
        dropout: float = 0.1,
        positions: bool = True,
    ):
        super().__init__()
        self.dim = dim
        self.positions = positions
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, ff_dim or 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim) if layers else nn.Identity()

    def forward(self, x: torch.Tensor, lens: torch.Tensor, frame_shift: float = 1.0) -> torch.Tensor:
        if self.positions:
            pos = torch.arange(x.shape[1], device=x.device, dtype=torch.float32) * frame_shift
            x = x + sinusoidal_positions(pos, self.dim).to(x.dtype)
        mask, _ = _safe_key_mask(padding_mask(lens, x.shape[1]))  # empty rows are zeroed below
        for layer in self.layers:
            x = zero_padding(layer(x, src_key_padding_mask=mask), lens)
        return zero_padding(self.norm(x), lens)


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention: the query sequence attends to a context sequence, then a
    feed-forward layer; both with residual connections.

    forward(query (B, Tq, D), query_lens, context (B, Tc, D), context_lens) -> (B, Tq, D);
    instead of context_lens, `context_mask` (B, Tc), True on padding, may mark any frames as absent
    (e.g. the padding of several concatenated sequences).
    A row whose context is empty gets no attention update, only the feed-forward.
    """

    def __init__(self, dim: int, heads: int = 4, ff_dim: int | None = None, dropout: float = 0.1):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_dim or 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim or 4 * dim, dim)
        )
        self.dropout = nn.Dropout(dropout)
        self.last_weights = None

    def forward(self, query, query_lens, context, context_lens=None, context_mask=None, need_weights: bool = False):
        if (context_lens is None) == (context_mask is None):
            raise ValueError("CrossAttentionBlock needs exactly one of context_lens and context_mask")
        if context_mask is None:
            context_mask = padding_mask(context_lens, context.shape[1])
        mask, empty = _safe_key_mask(context_mask)
        kv = self.norm_kv(context)
        out, weights = self.attn(self.norm_q(query), kv, kv, key_padding_mask=mask, need_weights=need_weights)
        out = out.masked_fill(empty[:, None, None], 0.0)
        self.last_weights = weights  # (B, Tq, Tc) averaged over heads when asked for, else None
        x = query + self.dropout(out)
        x = x + self.dropout(self.ff(self.norm_ff(x)))
        return zero_padding(x, query_lens)


class CoAttention(nn.Module):
    """Co-attention among M modalities: in each of `layers` rounds, every modality attends to the
    concatenation of all the others (their frames, each with its own padding mask), all modalities
    updated at once from the previous round's states.

    forward(xs: list of (B, T_m, D), lens: list of (B,)) -> list of (B, T_m, D).
    With a single modality there is nothing to attend to and the input comes back unchanged.
    """

    def __init__(
        self,
        num_modalities: int,
        dim: int,
        heads: int = 4,
        layers: int = 1,
        ff_dim: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.num_modalities = num_modalities
        self.rounds = nn.ModuleList(
            nn.ModuleList(CrossAttentionBlock(dim, heads, ff_dim, dropout) for _ in range(num_modalities))
            for _ in range(layers if num_modalities > 1 else 0)
        )

    @staticmethod
    def concat_others(xs, lens, m: int) -> tuple:
        """The other modalities' frames in one (B, sum T, D) sequence + its padding mask (B, sum T)."""
        others = [i for i in range(len(xs)) if i != m]
        seq = torch.cat([xs[i] for i in others], dim=1)
        mask = torch.cat([padding_mask(lens[i], xs[i].shape[1]) for i in others], dim=1)
        return seq, mask

    def forward(self, xs: list, lens: list) -> list:
        if len(xs) != self.num_modalities:
            raise ValueError(f"CoAttention built for {self.num_modalities} modalities got {len(xs)}")
        for blocks in self.rounds:
            contexts = [self.concat_others(xs, lens, m) for m in range(len(xs))]
            xs = [block(x, n, ctx, context_mask=mask) for block, x, n, (ctx, mask) in zip(blocks, xs, lens, contexts)]
        return xs
