"""Co-attention between the emotion branch and auxiliary task branches, fused by learned gates.

Emotion -> auxiliary: the emotion frames query each auxiliary branch's frames (multi-head
attention), giving per-frame auxiliary context C_k. A sigmoid gate computed from the emotion frame
and that context decides, per frame and channel, how much of it enters the emotion stream:

    g_k = sigmoid(W_k [E; C_k] + b_k)          F = LayerNorm(E + sum_k g_k * C_k)

Auxiliary -> emotion (reverse=True): each auxiliary branch's frames query the emotion frames; the
result R_k, averaged over time, is gated into the pooled utterance vector the same way:

    u = pool(F);   h_k = sigmoid(V_k [u; mean(R_k)]);   u <- u + sum_k h_k * mean(R_k)

The gates depend on the input, so the fusion is dynamic: a task's context can be used for one
utterance (or frame) and ignored for another. Their mean values are reported for the log.
"""

import torch
from torch import nn

from ser.nn.pooling import lengths_to_mask, make_pooling, masked_mean


class GatedCoAttentionFusion(nn.Module):
    def __init__(
        self,
        dim: int,
        aux_names,
        heads: int = 4,
        dropout: float = 0.1,
        reverse: bool = True,
        pooling: str = "attentive",
    ):
        super().__init__()
        self.aux_names = list(aux_names)
        self.reverse = reverse

        def attn():
            return nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

        self.attend = nn.ModuleDict({k: attn() for k in self.aux_names})
        self.gate = nn.ModuleDict({k: nn.Linear(2 * dim, dim) for k in self.aux_names})
        self.norm = nn.LayerNorm(dim)
        self.pool = make_pooling(pooling, dim)
        if reverse:
            self.attend_back = nn.ModuleDict({k: attn() for k in self.aux_names})
            self.gate_back = nn.ModuleDict({k: nn.Linear(2 * dim, dim) for k in self.aux_names})

    def forward(self, emo: torch.Tensor, aux: dict, lens: torch.Tensor):
        """emo (B, T, D), aux {name: (B, T, D)} over the same frames, lens (B,) ->
        (utterance vector (B, D), fused frames (B, T, D), {gate name: mean gate value})."""
        mask = lengths_to_mask(lens, emo.shape[1])
        pad = ~mask
        fused = emo
        gates = {}
        for k in self.aux_names:
            ctx, _ = self.attend[k](emo, aux[k], aux[k], key_padding_mask=pad, need_weights=False)
            g = torch.sigmoid(self.gate[k](torch.cat([emo, ctx], dim=-1)))
            fused = fused + g * ctx
            gates[f"gate_{k}"] = float(masked_mean(g.detach(), lens).mean())
        fused = self.norm(fused)
        utt = self.pool(fused, lens)
        if self.reverse:
            for k in self.aux_names:
                back, _ = self.attend_back[k](aux[k], emo, emo, key_padding_mask=pad, need_weights=False)
                back = masked_mean(back, lens)
                h = torch.sigmoid(self.gate_back[k](torch.cat([utt, back], dim=-1)))
                utt = utt + h * back
                gates[f"gate_back_{k}"] = float(h.detach().mean())
        return utt, fused, gates
