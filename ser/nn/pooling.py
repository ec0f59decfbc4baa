"""Padding masks, statistics over time and pooling that ignore padded frames."""

import torch
from torch import nn


def lengths_to_mask(lens: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on real frames."""
    max_len = int(max_len if max_len is not None else lens.max())
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def masked_mean(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, D), averaging real frames only; a zero-length row gives zeros."""
    mask = lengths_to_mask(lens, x.shape[1]).unsqueeze(-1).to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def masked_mean_std(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, 2D): mean and standard deviation over the real frames (x-vector statistics)."""
    mean = masked_mean(x, lens)
    mask = lengths_to_mask(lens, x.shape[1]).unsqueeze(-1).to(x.dtype)
    var = (((x - mean.unsqueeze(1)) ** 2) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return torch.cat([mean, var.clamp(min=1e-6).sqrt()], dim=-1)


def utterance_cmvn(x, lens, variance: bool = True):
    """Per-utterance mean (and variance) normalisation of (B, F, T) over each one's real frames."""
    mask = lengths_to_mask(lens, x.shape[-1]).unsqueeze(1).to(x.dtype)
    n = mask.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (x * mask).sum(-1, keepdim=True) / n
    x = x - mean
    if variance:
        std = ((x * x * mask).sum(-1, keepdim=True) / n).clamp(min=1e-5).sqrt()
        x = x / std
    return x * mask


def frame_lengths(wav_lens: torch.Tensor, rate: int, num_frames: int) -> torch.Tensor:
    """Frame counts for sample counts at `rate` samples per frame, capped at the tensor's length."""
    return torch.clamp(torch.div(wav_lens - 1, rate, rounding_mode="floor") + 1, max=num_frames)


class MeanPooling(nn.Module):
    def forward(self, x, lens):
        return masked_mean(x, lens)


class AttentivePooling(nn.Module):
    """Self-attentive pooling: a learned score per frame, softmax over real frames."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, x, lens):
        mask = lengths_to_mask(lens, x.shape[1])
        s = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(s, dim=1).nan_to_num(0.0)
        return (w.unsqueeze(-1) * x).sum(1)


def make_pooling(kind: str, dim: int) -> nn.Module:
    if kind == "mean":
        return MeanPooling()
    if kind == "attentive":
        return AttentivePooling(dim)
    raise ValueError(f"unknown pooling '{kind}' (mean, attentive)")
