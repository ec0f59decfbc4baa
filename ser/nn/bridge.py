"""Bridge-token fusion: K learnable tokens gather information from several modality sequences
(e.g. acoustic frames and linguistic tokens) through cross-attention over L layers.

One layer, pre-norm with residuals:
    tokens += SelfAttn(tokens)                              (optional: the tokens exchange what they hold)
    tokens += sum over modalities m of CrossAttn_m(tokens -> sequence_m, padding mask_m)
    tokens += FFN(tokens)
Each modality has its own cross-attention, so the bridge is the only place where the modalities
meet. Every cross-attention also has one learned "null" key/value (torch's `add_bias_kv`) that is
never masked: a modality that is empty for an utterance (an empty transcript, a modality dropped
by random masking) then gets all the attention on the null key instead of a softmax over nothing,
which would be NaN. Padded positions get exactly zero weight, so padding never changes a result.
"""

import torch
from torch import nn


class BridgeLayer(nn.Module):
    def __init__(
        self, dim: int, heads: int, modalities, ffn_dim: int, dropout: float = 0.1, token_self_attention: bool = True
    ):
        super().__init__()
        self.modalities = list(modalities)
        self.self_attn = (
            nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True) if token_self_attention else None
        )
        self.self_norm = nn.LayerNorm(dim) if token_self_attention else None
        self.cross_norm = nn.LayerNorm(dim)
        self.cross_attn = nn.ModuleDict(
            {
                m: nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True, add_bias_kv=True)
                for m in self.modalities
            }
        )
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens, seqs: dict, masks: dict, need_weights: bool = False):
        """tokens (B, K, D); seqs {m: (B, T_m, D)}; masks {m: (B, T_m) bool, True = real position}.
        Returns (tokens, {m: (B, K, T_m + 1) attention weights, last column the null key} or None)."""
        if self.self_attn is not None:
            h = self.self_norm(tokens)
            tokens = tokens + self.dropout(self.self_attn(h, h, h, need_weights=False)[0])
        q = self.cross_norm(tokens)
        update, weights = 0.0, {}
        for m in self.modalities:
            out, w = self.cross_attn[m](
                q, seqs[m], seqs[m], key_padding_mask=~masks[m], need_weights=need_weights, average_attn_weights=True
            )
            update = update + out
            weights[m] = w
        tokens = tokens + self.dropout(update)
        tokens = tokens + self.dropout(self.ffn(self.ffn_norm(tokens)))
        return tokens, (weights if need_weights else None)


class BridgeFusion(nn.Module):
    """`forward(seqs, masks) -> (B, K, D)` fused bridge tokens (final LayerNorm applied)."""

    def __init__(
        self,
        dim: int,
        modalities=("acoustic", "linguistic"),
        num_tokens: int = 8,
        num_layers: int = 2,
        heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
        token_self_attention: bool = True,
    ):
        super().__init__()
        if num_tokens < 1 or num_layers < 1:
            raise ValueError(f"need at least one bridge token and one layer, got {num_tokens} and {num_layers}")
        self.modalities = list(modalities)
        # Small random init: identical tokens would stay identical, as every token sees the same keys.
        self.tokens = nn.Parameter(torch.randn(1, num_tokens, dim) * 0.02)
        self.layers = nn.ModuleList(
            BridgeLayer(dim, heads, self.modalities, ffn_dim or 4 * dim, dropout, token_self_attention)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, seqs: dict, masks: dict, return_attention: bool = False):
        missing = [m for m in self.modalities if m not in seqs or m not in masks]
        if missing:
            raise ValueError(f"bridge fusion needs sequences and masks for {missing}")
        batch = seqs[self.modalities[0]].shape[0]
        tokens = self.tokens.expand(batch, -1, -1)
        attention = []
        for layer in self.layers:
            tokens, w = layer(tokens, seqs, masks, need_weights=return_attention)
            attention.append(w)
        tokens = self.norm(tokens)
        return (tokens, attention) if return_attention else tokens
