"""Bidirectional LSTM over padded frame sequences (padding never enters the recurrence)."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTM(nn.Module):
    """(B, T, D), (B,) lengths -> (B, T, 2 * hidden); frames past a row's length come out as zeros."""

    def __init__(self, in_dim: int, hidden: int = 256, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.out_dim = 2 * hidden
        self.lstm = nn.LSTM(
            in_dim,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lens.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out
