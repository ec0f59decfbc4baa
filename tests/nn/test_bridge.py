"""ser.nn.bridge: bridge tokens cross-attending to padded modality sequences."""

import pytest
import torch

from ser.nn.bridge import BridgeFusion
from ser.nn.pooling import lengths_to_mask

DIM = 16


def make_fusion(seed=0, **kw):
    torch.manual_seed(seed)
    args = dict(num_tokens=4, num_layers=2, heads=2, dropout=0.0)
    args.update(kw)
    return BridgeFusion(DIM, ("audio", "text"), **args).eval()


def inputs(lens_a, lens_t, pad_a=0, pad_t=0, seed=1):
    """Random sequences of the given lengths, padded with random garbage (not zeros) beyond them."""
    g = torch.Generator().manual_seed(seed)
    ta, tt = max(lens_a) + pad_a, max(lens_t) + pad_t
    a = torch.randn(len(lens_a), ta, DIM, generator=g)
    t = torch.randn(len(lens_t), tt, DIM, generator=g)
    la, lt = torch.tensor(lens_a), torch.tensor(lens_t)
    return {"audio": a, "text": t}, {"audio": lengths_to_mask(la, ta), "text": lengths_to_mask(lt, tt)}


def test_padded_positions_get_zero_weight():
    fusion = make_fusion()
    seqs, masks = inputs([5, 2, 7], [3, 6, 1], pad_a=3, pad_t=2)
    with torch.no_grad():
        _, attention = fusion(seqs, masks, return_attention=True)
    assert len(attention) == 2
    for layer in attention:
        for m in ("audio", "text"):
            w = layer[m]  # (B, K, T + 1): the last column is the null key
            assert w.shape == (3, 4, seqs[m].shape[1] + 1)
            real = masks[m][:, None, :].expand(-1, 4, -1)
            assert torch.all(w[..., :-1][~real] == 0.0)
            assert torch.all(w[..., :-1][real] > 0.0)
            assert torch.allclose(w.sum(-1), torch.ones(3, 4), atol=1e-5)


def test_adding_padding_changes_nothing():
    fusion = make_fusion()
    seqs, masks = inputs([5, 2, 7], [3, 6, 1])
    with torch.no_grad():
        ref = fusion(seqs, masks)
        # The same real frames with 4 and 5 extra padded positions of garbage.
        seqs_p, masks_p = inputs([5, 2, 7], [3, 6, 1], pad_a=4, pad_t=5)
        for m in seqs:
            t = seqs[m].shape[1]
            seqs_p[m][:, :t] = torch.where(masks[m][..., None], seqs[m], seqs_p[m][:, :t])
        out = fusion(seqs_p, masks_p)
    assert torch.allclose(ref, out, atol=1e-5)


def test_an_utterance_does_not_depend_on_its_batch():
    fusion = make_fusion()
    seqs, masks = inputs([5, 2, 7], [3, 6, 1])
    with torch.no_grad():
        full = fusion(seqs, masks)
        alone = fusion(
            {m: s[1:2, : 2 if m == "audio" else 6] for m, s in seqs.items()},
            {m: k[1:2, : 2 if m == "audio" else 6] for m, k in masks.items()},
        )
    assert torch.allclose(full[1], alone[0], atol=1e-5)


def test_empty_modality_gives_finite_output_independent_of_its_content():
    fusion = make_fusion()
    seqs, masks = inputs([5, 4], [0, 3])
    with torch.no_grad():
        out, attention = fusion(seqs, masks, return_attention=True)
        seqs2 = dict(seqs, text=seqs["text"].clone())
        seqs2["text"][:] = 100.0  # row 0 has no text: its (masked) content must not matter
        out2 = fusion(seqs2, masks)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0], out2[0], atol=1e-6)
    assert not torch.allclose(out[1], out2[1], atol=1e-4)  # row 1 has text, and sees the change
    for layer in attention:
        assert torch.allclose(layer["text"][0, :, -1], torch.ones(4))  # all weight on the null key


def test_every_sequence_of_a_modality_empty_and_gradients_finite():
    fusion = make_fusion()
    fusion.train()
    seqs, masks = inputs([5, 4], [1, 1])
    seqs["text"], masks["text"] = torch.zeros(2, 0, DIM), torch.zeros(2, 0, dtype=torch.bool)
    out = fusion(seqs, masks)
    out.square().mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)


def test_output_depends_on_both_modalities_and_tokens_differ():
    fusion = make_fusion(token_self_attention=False)
    seqs, masks = inputs([5], [3])
    with torch.no_grad():
        ref = fusion(seqs, masks)
        for m in ("audio", "text"):
            other = dict(seqs, **{m: torch.randn_like(seqs[m])})
            assert not torch.allclose(ref, fusion(other, masks), atol=1e-4), m
    assert ref.shape == (1, 4, DIM)
    assert not torch.allclose(ref[0, 0], ref[0, 1], atol=1e-4)


def test_bad_configuration_and_missing_modality():
    with pytest.raises(ValueError):
        BridgeFusion(DIM, ("audio",), num_tokens=0)
    fusion = make_fusion()
    seqs, masks = inputs([3], [3])
    with pytest.raises(ValueError, match="text"):
        fusion({"audio": seqs["audio"]}, {"audio": masks["audio"]})
