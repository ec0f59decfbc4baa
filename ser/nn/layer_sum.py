"""Softmax-weighted sum of hidden layers (SUPERB's featurizer), for stacked or listed layers."""

import torch
from torch import nn


class WeightedLayerSum(nn.Module):
    def __init__(self, num_layers: int, layer_norm: bool = False):
        super().__init__()
        self.layer_norm = layer_norm
        # Zeros: every layer starts with equal weight, as in s3prl's Featurizer.
        self.weights = nn.Parameter(torch.zeros(num_layers)) if num_layers > 1 else None

    def forward(self, layers) -> torch.Tensor:
        """`layers`: a list of (B, T, D) or a (B, T, L, D) tensor -> (B, T, D)."""
        x = torch.stack(list(layers), dim=2) if isinstance(layers, (list, tuple)) else layers
        if self.layer_norm:
            x = nn.functional.layer_norm(x, x.shape[-1:])
        if self.weights is None:
            return x[:, :, 0]
        w = torch.softmax(self.weights, dim=0)
        return (x * w.view(1, 1, -1, 1)).sum(dim=2)

    def layer_weights(self) -> list:
        return [1.0] if self.weights is None else torch.softmax(self.weights.detach(), 0).tolist()
