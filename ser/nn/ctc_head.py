"""CTC head over characters: a linear layer from frame features to token log-probabilities,
trained with torch's CTC loss; decoding is ser.text.ctc.greedy_decode."""

import torch
from torch import nn

from ser.text.ctc import greedy_decode


class CTCHead(nn.Module):
    def __init__(self, in_dim: int, vocab_size: int, dropout: float = 0.0, blank: int = 0):
        super().__init__()
        self.blank = blank
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dim, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, V) log-probabilities."""
        return torch.log_softmax(self.proj(self.dropout(x)), dim=-1)

    def loss(self, x, lens, targets: list) -> torch.Tensor:
        """Mean CTC loss (per target token, as torch's `mean` reduction) over the utterances whose
        target is non-empty; utterances without a usable transcript do not count. Paths that cannot
        fit (more tokens than frames) give zero, not infinity."""
        keep = [i for i, t in enumerate(targets) if len(t) > 0]
        if not keep:
            return self(x).sum() * 0.0  # zero, but part of the graph like any other loss
        idx = torch.tensor(keep, device=x.device)
        log_probs = self(x.index_select(0, idx)).float()
        flat = torch.tensor([c for i in keep for c in targets[i]], dtype=torch.long, device=x.device)
        target_lens = torch.tensor([len(targets[i]) for i in keep], dtype=torch.long, device=x.device)
        return nn.functional.ctc_loss(
            log_probs.transpose(0, 1),
            flat,
            lens.index_select(0, idx),
            target_lens,
            blank=self.blank,
            reduction="mean",
            zero_infinity=True,
        )

    @torch.no_grad()
    def decode(self, x, lens) -> list:
        return greedy_decode(self(x), lens, self.blank)
