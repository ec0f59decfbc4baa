"""AM-/AAM-softmax against hand-computed values and their m = 0 limit."""

import math

import pytest
import torch
import torch.nn.functional as F

from ser.losses.margin import AAMSoftmax, AMSoftmax, SoftmaxHead, cosine_logits, make_margin_head


def head_with(cls, weight, **kw):
    h = cls(weight.shape[1], weight.shape[0], **kw)
    with torch.no_grad():
        h.weight.copy_(weight)
    return h


# x = (3, 4) has cosines 0.6, 0.8 and 0 with the class weights (1, 0), (0, 2) and (-4, 3);
# the target is class 0.
X = torch.tensor([[3.0, 4.0]])
W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-4.0, 3.0]])
Y = torch.tensor([0])


def test_cosines():
    assert torch.allclose(cosine_logits(X, W), torch.tensor([[0.6, 0.8, 0.0]]), atol=1e-6)


def test_am_softmax_hand_computed():
    h = head_with(AMSoftmax, W, margin=0.2, scale=30.0)
    # logits: 30 * (0.6 - 0.2) = 12, 30 * 0.8 = 24, 0  ->  L = -log(e^12 / (e^12 + e^24 + e^0))
    expected = -(12.0 - math.log(math.exp(12.0) + math.exp(24.0) + 1.0))
    assert h.loss(X, Y).item() == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(h.margin_logits(X, Y), torch.tensor([[12.0, 24.0, 0.0]]), atol=1e-4)
    # prediction logits carry no margin
    assert torch.allclose(h(X), torch.tensor([[18.0, 24.0, 0.0]]), atol=1e-4)


def test_aam_softmax_hand_computed():
    h = head_with(AAMSoftmax, W, margin=0.2, scale=30.0)
    target = 30.0 * math.cos(math.acos(0.6) + 0.2)
    expected = -(target - math.log(math.exp(target) + math.exp(24.0) + 1.0))
    assert h.loss(X, Y).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("cls", [AMSoftmax, AAMSoftmax])
def test_zero_margin_is_scaled_cosine_softmax(cls):
    torch.manual_seed(0)
    x, y = torch.randn(16, 8), torch.randint(0, 4, (16,))
    h = cls(8, 4, margin=0.0, scale=30.0)
    plain = F.cross_entropy(30.0 * cosine_logits(x, h.weight), y)
    assert h.loss(x, y).item() == pytest.approx(plain.item(), rel=1e-4)


def test_margin_makes_the_loss_larger_for_the_same_weights():
    torch.manual_seed(1)
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    h0, h2 = AMSoftmax(8, 4, margin=0.0), AMSoftmax(8, 4, margin=0.2)
    with torch.no_grad():
        h2.weight.copy_(h0.weight)
    assert h2.loss(x, y) > h0.loss(x, y)


def test_ignored_targets_get_no_margin_and_no_loss():
    h = head_with(AMSoftmax, W, margin=0.2, scale=30.0)
    both = h.loss(torch.cat([X, X]), torch.tensor([0, -1]))
    assert both.item() == pytest.approx(h.loss(X, Y).item(), rel=1e-6)
    assert torch.allclose(h.margin_logits(X, torch.tensor([-1])), h(X))


def test_factory():
    assert isinstance(make_margin_head("am", 4, 3), AMSoftmax)
    assert isinstance(make_margin_head("aam", 4, 3), AAMSoftmax)
    assert isinstance(make_margin_head("ce", 4, 3), SoftmaxHead)
    with pytest.raises(ValueError):
        make_margin_head("arc", 4, 3)
