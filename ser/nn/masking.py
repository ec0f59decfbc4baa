"""HuBERT-style span masking of a frame sequence (Hsu et al. 2021, sec. III-B; fairseq's
`compute_mask_indices` in its default "static" mode).

Every real frame of an utterance is drawn as a span start with probability `mask_prob`
(HuBERT: p = 0.08); each start masks `span` consecutive frames (HuBERT: l = 10); spans may overlap,
so about 1 - (1 - p)^l of the frames (57 % for HuBERT's values) end up masked. fairseq writes the
same setting as mask_prob = p * l = 0.8 ("expected share of frames covered before overlaps");
here `mask_prob` is the start probability of the HuBERT paper.
"""

import torch


def span_mask(
    lengths: torch.Tensor,
    max_len: int,
    mask_prob: float,
    span: int,
    min_masks: int = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B,) real frame counts -> (B, max_len) bool mask, True on masked frames.

    An utterance of T frames gets int(mask_prob * T + u), u ~ U[0, 1), spans (at least `min_masks`)
    whose starts are drawn without replacement from 0 .. T - span, so every span lies inside the
    real frames; an utterance shorter than one span is left unmasked.
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if span < 1:
        raise ValueError(f"span length must be >= 1, got {span}")
    lengths = lengths.detach().to("cpu", torch.long).clamp(max=max_len)
    mask = torch.zeros(len(lengths), max_len, dtype=torch.bool)
    offsets = torch.arange(span)
    for i, n in enumerate(lengths.tolist()):
        positions = n - span + 1
        if positions <= 0:
            continue
        u = float(torch.rand((), generator=generator))
        num = min(max(int(mask_prob * n + u), min_masks), positions)
        if num <= 0:
            continue
        starts = torch.randperm(positions, generator=generator)[:num]
        mask[i, (starts[:, None] + offsets[None, :]).reshape(-1)] = True
    return mask


def expected_masked_fraction(mask_prob: float, span: int) -> float:
    """Share of frames a long utterance ends up masked (overlapping spans merge)."""
    return 1.0 - (1.0 - mask_prob) ** span
