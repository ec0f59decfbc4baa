"""Random modality masking: during training, hide one whole modality of some utterances, so a
fusion model learns to use each modality alone and does not lean on one of them only.

The masking works on the padding masks (True = a real position): a dropped modality's row becomes
all False, so attention gives it zero weight, exactly like an empty sequence. At most one modality
of an utterance is dropped, and none when the others are empty already (e.g. an empty transcript),
so an utterance never loses all its input.
"""

import torch
from torch import nn


class ModalityMasking(nn.Module):
    def __init__(self, modalities, prob: float = 0.0):
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"modality masking probability must be in [0, 1], got {prob}")
        self.modalities = list(modalities)
        self.prob = prob

    def choose(self, batch_size: int, device=None, generator=None) -> torch.Tensor:
        """(B,) index of the modality to drop per utterance, -1 for none; uniform over modalities."""
        if len(self.modalities) < 2 or self.prob == 0.0:
            return torch.full((batch_size,), -1, dtype=torch.long, device=device)
        drop = torch.rand(batch_size, generator=generator) < self.prob
        which = torch.randint(len(self.modalities), (batch_size,), generator=generator)
        return torch.where(drop, which, torch.full_like(which, -1)).to(device)

    def keep_one(self, masks: dict, choice: torch.Tensor) -> torch.Tensor:
        """Cancels a drop where every other modality of the utterance is empty."""
        present = torch.stack([masks[name].any(dim=1).cpu() for name in self.modalities], dim=1)  # (B, M)
        choice = choice.cpu().clone()
        for i in range(len(self.modalities)):
            others = torch.cat([present[:, :i], present[:, i + 1 :]], dim=1).any(dim=1)
            choice[(choice == i) & ~others] = -1
        return choice

    def apply(self, masks: dict, choice: torch.Tensor) -> dict:
        """masks {modality: (B, T) bool} -> new masks with the chosen modality all False per row."""
        out = dict(masks)
        for i, name in enumerate(self.modalities):
            hit = (choice == i).to(masks[name].device)
            out[name] = masks[name] & ~hit[:, None]
        return out

    def forward(self, masks: dict, generator=None):
        """Masks unchanged in eval mode; returns (masks, choice)."""
        batch = next(iter(masks.values())).shape[0]
        if not self.training:
            return masks, torch.full((batch,), -1, dtype=torch.long)
        choice = self.keep_one(masks, self.choose(batch, generator=generator))
        return self.apply(masks, choice), choice
