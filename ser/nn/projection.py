"""The "linear projection module" of several papers: Linear -> ReLU -> Linear (optional dropout)."""

from torch import nn


class LinearProjection(nn.Sequential):
    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0):
        super().__init__(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
        self.out_dim = out_dim
