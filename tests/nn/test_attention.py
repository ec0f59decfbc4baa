"""ser.nn.attention: shapes and padding masks of self-, cross- and co-attention on padded batches."""

import pytest
import torch

from ser.nn.attention import CoAttention, CrossAttentionBlock, SelfAttentionEncoder, padding_mask, sinusoidal_positions

D = 16


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def padded(lens, extra=0, fill=0.0, seed=0):
    """(B, max+extra, D) with random real frames and `fill` in the padding."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lens)
    x = torch.randn(len(lens), int(lens.max()), D, generator=g)
    x = torch.nn.functional.pad(x, (0, 0, 0, extra))
    mask = padding_mask(lens, x.shape[1])
    x[mask] = fill
    return x, lens


def real_rows(y, lens):
    return [y[b, : int(n)] for b, n in enumerate(lens)]


def test_padding_mask_convention():
    assert padding_mask(torch.tensor([2, 0, 3]), 3).tolist() == [
        [False, False, True],
        [True, True, True],
        [False, False, False],
    ]


def test_sinusoidal_positions_shape_and_values():
    enc = sinusoidal_positions(torch.arange(5.0), 7)
    assert enc.shape == (5, 7)
    assert torch.allclose(enc[0, :3], torch.zeros(3)) and torch.allclose(enc[0, 3:6], torch.ones(3))


def test_self_attention_ignores_padding():
    torch.manual_seed(0)
    enc = SelfAttentionEncoder(D, heads=2, layers=2, dropout=0.0).eval()
    x, lens = padded([7, 4, 1])
    y = enc(x, lens)
    assert y.shape == x.shape
    assert torch.all(y[padding_mask(lens, y.shape[1])] == 0)
    # Other padding values and a longer padded tensor change nothing on real frames.
    x2, _ = padded([7, 4, 1], extra=5, fill=100.0)
    y2 = enc(x2, lens)
    for a, b in zip(real_rows(y, lens), real_rows(y2, lens)):
        assert torch.allclose(a, b, atol=1e-5)
    # And each utterance alone gives what it gives inside the batch.
    alone = enc(x[1:2, :4], lens[1:2])
    assert torch.allclose(alone[0], y[1, :4], atol=1e-5)


def test_frame_shift_scales_positions():
    torch.manual_seed(0)
    enc = SelfAttentionEncoder(D, heads=2, layers=1, dropout=0.0).eval()
    x, lens = padded([6, 6])
    assert not torch.allclose(enc(x, lens, frame_shift=1.0), enc(x, lens, frame_shift=2.0))


def _three_modalities(extra=0, fill=0.0):
    """Three padded modalities of different lengths (frame rates) for a batch of 3."""
    a = padded([10, 6, 3], extra, fill, seed=1)
    b = padded([5, 5, 2], extra, fill, seed=2)
    c = padded([20, 8, 12], extra, fill, seed=3)
    return [a[0], b[0], c[0]], [a[1], b[1], c[1]]


def test_coattention_shapes_and_masks():
    torch.manual_seed(0)
    co = CoAttention(3, D, heads=4, layers=2, dropout=0.0).eval()
    xs, lens = _three_modalities()
    ys = co(xs, lens)
    assert [y.shape for y in ys] == [x.shape for x in xs]
    for y, n in zip(ys, lens):
        assert torch.all(y[padding_mask(n, y.shape[1])] == 0)
    # Padding content and padded length of ANY modality leave every real frame unchanged.
    xs2, lens2 = _three_modalities(extra=4, fill=-50.0)
    ys2 = co(xs2, lens2)
    for y, y2, n in zip(ys, ys2, lens):
        for a, b in zip(real_rows(y, n), real_rows(y2, n)):
            assert torch.allclose(a, b, atol=1e-5)


def test_coattention_mixes_modalities_but_not_utterances():
    torch.manual_seed(0)
    co = CoAttention(3, D, heads=2, layers=1, dropout=0.0).eval()
    xs, lens = _three_modalities()
    ys = co(xs, lens)
    changed = [x.clone() for x in xs]
    changed[2][1, :8] += torch.randn(8, D)  # modality c of utterance 1 only (a constant shift LayerNorm would undo)
    ys2 = co(changed, lens)
    # a and b of utterance 1 attend to c and change; utterances 0 and 2 do not.
    assert (ys[0][1, :6] - ys2[0][1, :6]).abs().max() > 1e-3
    assert (ys[1][1, :5] - ys2[1][1, :5]).abs().max() > 1e-3
    for m in range(3):
        assert torch.allclose(ys[m][[0, 2]], ys2[m][[0, 2]], atol=1e-6)


def test_no_gradient_reaches_padding():
    torch.manual_seed(0)
    co = CoAttention(3, D, heads=2, layers=1, dropout=0.0)
    enc = SelfAttentionEncoder(D, heads=2, layers=1, dropout=0.0)
    xs, lens = _three_modalities(extra=2)
    xs = [x.requires_grad_(True) for x in xs]
    ys = co([enc(x, n) for x, n in zip(xs, lens)], lens)
    sum(y.sum() for y in ys).backward()
    for x, n in zip(xs, lens):
        pad = padding_mask(n, x.shape[1])
        assert torch.all(x.grad[pad] == 0)
        assert x.grad[~pad].abs().sum() > 0


def test_single_modality_passes_through():
    co = CoAttention(1, D, heads=2)
    x, lens = padded([3, 2])
    assert co([x], [lens])[0] is x
    assert sum(p.numel() for p in co.parameters()) == 0


def test_cross_attention_with_an_empty_context_row():
    torch.manual_seed(0)
    block = CrossAttentionBlock(D, heads=2, dropout=0.0)
    q, q_lens = padded([4, 3])
    ctx, ctx_lens = padded([5, 1])
    ctx_lens = torch.tensor([5, 0])
    y = block(q, q_lens, ctx, ctx_lens)
    assert torch.isfinite(y).all()
    y.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match="exactly one"):
        block(q, q_lens, ctx)
