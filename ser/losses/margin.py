"""Margin softmax classifiers over cosine similarities.

AM-softmax (Wang et al. 2018, "Additive margin softmax for face verification"):
    L = -log e^{s (cos θ_y - m)} / (e^{s (cos θ_y - m)} + Σ_{j≠y} e^{s cos θ_j}),
AAM-softmax (ArcFace, Deng et al. 2019): the target logit is s cos(θ_y + m) instead.
cos θ_j is the cosine between the input x and the class weight w_j; with m = 0 both reduce to a
softmax over s-scaled cosines. The margin only enters the training loss: `forward` (what a model
predicts with) returns the plain scaled cosines s cos θ_j.

Each head has the same interface as `SoftmaxHead` (a linear layer with cross-entropy), so a model
can switch its objective with one config key (`make_margin_head`).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def cosine_logits(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, D) inputs, (C, D) class weights -> (B, C) cosines."""
    return F.normalize(x, dim=-1) @ F.normalize(weight, dim=-1).t()


def _target_mask(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot (B, C) bool of the targets; rows with a negative (ignored) target are all False."""
    valid = target >= 0
    onehot = torch.zeros(target.shape[0], num_classes, dtype=torch.bool, device=target.device)
    onehot[valid] = F.one_hot(target[valid], num_classes).bool()
    return onehot


class _CosineHead(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, margin: float, scale: float):
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.num_classes = num_classes
        self.margin = float(margin)
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        return cosine_logits(x, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled cosines without margin: the logits to predict (and take posteriors) with."""
        return self.scale * self.cosine(x)

    def _target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def margin_logits(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scaled logits with the margin applied to each row's target class."""
        cos = self.cosine(x)
        onehot = _target_mask(target, self.num_classes)
        return self.scale * torch.where(onehot, self._target_logit(cos), cos)

    def loss(self, x: torch.Tensor, target: torch.Tensor, ignore_index: int = -1) -> torch.Tensor:
        return F.cross_entropy(self.margin_logits(x, target), target, ignore_index=ignore_index)


class AMSoftmax(_CosineHead):
    """Additive margin: the target cosine is lowered by m (paper defaults m = 0.2 for GMP-ATL, s = 30)."""

    def __init__(self, in_dim: int, num_classes: int, margin: float = 0.2, scale: float = 30.0):
        super().__init__(in_dim, num_classes, margin, scale)

    def _target_logit(self, cos):
        return cos - self.margin


class AAMSoftmax(_CosineHead):
    """Additive angular margin (ArcFace): the target angle is widened by m radians.

    Past θ = π - m, cos(θ + m) would grow again; there ArcFace's usual linear extension
    cos θ - m sin(m) keeps the target logit decreasing in θ.
    """

    def __init__(self, in_dim: int, num_classes: int, margin: float = 0.2, scale: float = 30.0):
        super().__init__(in_dim, num_classes, margin, scale)
        self._cos_m, self._sin_m = math.cos(margin), math.sin(margin)
        self._threshold = math.cos(math.pi - margin)
        self._linear_drop = math.sin(math.pi - margin) * margin

    def _target_logit(self, cos):
        sin = torch.sqrt((1.0 - cos * cos).clamp(min=1e-7))
        phi = cos * self._cos_m - sin * self._sin_m
        return torch.where(cos > self._threshold, phi, cos - self._linear_drop)


class SoftmaxHead(nn.Module):
    """Linear classifier with plain cross-entropy, behind the margin heads' interface."""

    def __init__(self, in_dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, num_classes)

    def forward(self, x):
        return self.linear(x)

    def loss(self, x, target, ignore_index: int = -1):
        return F.cross_entropy(self.linear(x), target, ignore_index=ignore_index)


def make_margin_head(kind: str, in_dim: int, num_classes: int, margin: float = 0.2, scale: float = 30.0) -> nn.Module:
    """`am` (AM-softmax), `aam` (AAM-softmax) or `ce` (linear layer + cross-entropy)."""
    if kind == "am":
        return AMSoftmax(in_dim, num_classes, margin, scale)
    if kind == "aam":
        return AAMSoftmax(in_dim, num_classes, margin, scale)
    if kind == "ce":
        return SoftmaxHead(in_dim, num_classes)
    raise ValueError(f"unknown classifier loss '{kind}' (am, aam, ce)")
