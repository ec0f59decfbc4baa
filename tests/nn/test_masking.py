"""Span masking: HuBERT's statistics, spans inside the real frames, determinism."""

import torch

from ser.nn.masking import expected_masked_fraction, span_mask


def runs(row):
    """Lengths of the maximal runs of True in a 1-D bool tensor."""
    out, n = [], 0
    for v in row.tolist() + [False]:
        if v:
            n += 1
        elif n:
            out.append(n)
            n = 0
    return out


def test_masked_share_and_span_count_match_hubert_settings():
    g = torch.Generator().manual_seed(0)
    lens = torch.full((400,), 500)
    mask = span_mask(lens, 500, mask_prob=0.08, span=10, generator=g)
    frac = mask.float().mean().item()
    # 1 - 0.92^10 = 0.566 for an infinitely long utterance; edges mask a little less.
    assert abs(frac - expected_masked_fraction(0.08, 10)) < 0.03
    assert 0.5 < frac < 0.6


def test_spans_stay_inside_real_frames_and_are_at_least_span_long():
    g = torch.Generator().manual_seed(1)
    lens = torch.tensor([200, 57, 11, 10, 9, 0])
    mask = span_mask(lens, 200, mask_prob=0.08, span=10, min_masks=2, generator=g)
    for row, n in zip(mask, lens.tolist()):
        assert not row[n:].any(), "a padded frame was masked"
        assert all(r >= 10 for r in runs(row[:n])), "a masked run shorter than one span"
    assert mask[0].sum() > 0 and mask[1].sum() >= 10
    assert mask[3, :10].all()  # exactly one span fits: it is masked
    assert not mask[4].any() and not mask[5].any()  # shorter than a span: untouched


def test_min_masks_and_zero_probability():
    lens = torch.tensor([100, 100])
    none = span_mask(lens, 100, mask_prob=0.0, span=10, min_masks=0)
    assert not none.any()
    forced = span_mask(lens, 100, mask_prob=0.0, span=10, min_masks=2, generator=torch.Generator().manual_seed(0))
    assert (forced.sum(1) >= 10).all() and (forced.sum(1) <= 20).all()


def test_same_generator_seed_same_mask_and_another_seed_differs():
    lens = torch.tensor([300, 120, 80])
    a = span_mask(lens, 300, 0.08, 10, generator=torch.Generator().manual_seed(5))
    b = span_mask(lens, 300, 0.08, 10, generator=torch.Generator().manual_seed(5))
    c = span_mask(lens, 300, 0.08, 10, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
