"""Concordance correlation coefficient as a differentiable training loss for V/A/D regression.

Lin's CCC over the utterances of a batch, population statistics (as ser.eval.metrics.ccc, the
scoring metric), per output column. `1 - CCC` is 0 for a perfect prediction and 2 for a perfectly
anti-concordant one; unlike MSE it also penalises a prediction with the right values but the
wrong spread, which is what the CCC metric measures.
"""

import torch
from torch import nn

from ser.utils import SerError


def batch_ccc(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(N, D) predictions and targets -> (D,) CCC per column over the N rows.

    `eps` keeps a constant column (zero variance in both) finite: it then scores 0 unless the
    means also agree, never NaN.
    """
    if pred.shape != target.shape:
        raise SerError(f"CCC: prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}")
    if pred.dim() == 1:
        pred, target = pred.unsqueeze(1), target.unsqueeze(1)
    pred, target = pred.float(), target.float()
    mp, mt = pred.mean(0), target.mean(0)
    vp = ((pred - mp) ** 2).mean(0)
    vt = ((target - mt) ** 2).mean(0)
    cov = ((pred - mp) * (target - mt)).mean(0)
    return 2 * cov / (vp + vt + (mp - mt) ** 2 + eps)


class CCCLoss(nn.Module):
    """1 - CCC averaged over the output columns (valence, arousal, dominance)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1.0 - batch_ccc(pred, target).mean()


class MSELoss(nn.Module):
    """Mean squared error averaged over the columns: the alternative the conf can select."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(pred.float(), target.float())


REGRESSION_LOSSES = {"ccc": CCCLoss, "mse": MSELoss}


def make_regression_loss(kind: str) -> nn.Module:
    if kind not in REGRESSION_LOSSES:
        raise SerError(f"unknown regression loss '{kind}' (known: {', '.join(sorted(REGRESSION_LOSSES))})")
    return REGRESSION_LOSSES[kind]()
