"""Mixup (Zhang et al. 2018): train on convex combinations of pairs of examples and of their targets.

`mixup_pairs` draws one weight lam ~ Beta(alpha, alpha) per batch and a permutation that pairs each
example with another; the loss is then `lam * loss(y) + (1 - lam) * loss(y[perm])`
(`mixed_cross_entropy`), which equals cross-entropy against the mixed one-hot target.
"""

import torch
from torch import nn


def mixup_pairs(batch_size: int, alpha: float):
    """-> (lam: float, perm: (B,) long), drawn from torch's global RNG (seeded and checkpointed by
    the trainer, so runs and resumed runs repeat). alpha <= 0 means no mixing (lam 1, identity)."""
    if alpha <= 0 or batch_size < 2:
        return 1.0, torch.arange(batch_size)
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    return lam, torch.randperm(batch_size)


def mix(x: torch.Tensor, lam: float, perm: torch.Tensor) -> torch.Tensor:
    return x if lam == 1.0 else lam * x + (1.0 - lam) * x[perm.to(x.device)]


def mixed_cross_entropy(
    logits, target, lam: float, perm: torch.Tensor, ignore_index: int = -100, weight=None, label_smoothing: float = 0.0
) -> torch.Tensor:
    loss = nn.functional.cross_entropy(
        logits, target, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing
    )
    if lam == 1.0:
        return loss
    other = nn.functional.cross_entropy(
        logits,
        target[perm.to(target.device)],
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    return lam * loss + (1.0 - lam) * other
