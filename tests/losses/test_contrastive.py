"""ser.losses.contrastive: the SWFC loss."""

import math

import pytest
import torch

from ser.losses.contrastive import SWFCLoss, class_weights
from ser.utils import SerError


def supcon_reference(emb, labels, tau):
    """Khosla et al. (2020) L_out written out with loops, straight from the formula."""
    z = torch.nn.functional.normalize(emb, dim=-1)
    n, losses = len(labels), []
    for i in range(n):
        pos = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not pos:
            continue
        denom = sum(math.exp(float(z[i] @ z[a]) / tau) for a in range(n) if a != i)
        losses.append(-sum(math.log(math.exp(float(z[i] @ z[p]) / tau) / denom) for p in pos) / len(pos))
    return sum(losses) / len(losses)


def test_neutral_weights_give_supervised_contrastive_loss():
    torch.manual_seed(0)
    emb = torch.randn(12, 8)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 3, 1, 2, 0])  # class 3 has no positive: not an anchor
    probs = torch.softmax(torch.randn(12, 4), -1)
    for source in ("classifier", "contrastive"):
        loss_fn = SWFCLoss(
            4, class_counts=[50, 30, 15, 5], temperature=0.2, focal_gamma=0.0, class_power=0.0, focal_source=source
        )
        loss, weights, _ = loss_fn(emb, labels, probs)
        assert torch.allclose(weights, torch.ones(12))
        assert loss.item() == pytest.approx(supcon_reference(emb, labels, 0.2), rel=1e-5)


def test_misclassified_minority_sample_weighs_more():
    loss_fn = SWFCLoss(2, class_counts=[90, 10], temperature=0.1, focal_gamma=2.0, class_power=0.5)
    labels = torch.tensor([0, 0, 1, 1])
    # Sample 2 (minority class 1) is misclassified: p(true) = 0.2; the others are right with p = 0.9.
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    w = loss_fn.sample_weights(labels, probs)
    neutral = SWFCLoss(2, class_counts=[90, 10], focal_gamma=0.0, class_power=0.0).sample_weights(labels, probs)
    assert w[2] > neutral[2] and w[2] == w.max()
    assert w[2] > 10 * w[0]  # the hard minority sample dominates the easy majority ones
    # class weights: k * n^-0.5, ratio 1:3 for counts 90, 10; mean 1 over training: 90k + 30k = 100
    assert loss_fn.class_weight.tolist() == pytest.approx([5 / 6, 2.5])
    assert w[2].item() == pytest.approx(2.5 * 0.8**2)

    # ... and its share of the gradient grows accordingly.
    torch.manual_seed(1)
    emb = torch.randn(4, 6)

    def grad_norms(fn):
        e = emb.clone().requires_grad_(True)
        fn(e, labels, probs)[0].backward()
        return e.grad.norm(dim=1)

    g_swfc, g_plain = grad_norms(loss_fn), grad_norms(SWFCLoss(2, focal_gamma=0.0, class_power=0.0))
    assert g_swfc[2] / g_swfc[0] > g_plain[2] / g_plain[0]


def test_contrastive_focal_term_downweights_easy_pairs():
    labels = torch.tensor([0, 0, 1, 1])
    easy = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])  # positives aligned
    plain = SWFCLoss(2, focal_gamma=0.0, class_power=0.0, focal_source="contrastive")
    focal = SWFCLoss(2, focal_gamma=2.0, class_power=0.0, focal_source="contrastive")
    assert focal(easy, labels)[0] < 0.1 * plain(easy, labels)[0]


def test_class_weights_and_errors():
    w = class_weights([30, 10, 0], power=1.0)
    assert float(30 * w[0] + 10 * w[1]) == pytest.approx(40.0)  # mean weight 1 over training samples
    assert w[1] / w[0] == pytest.approx(3.0) and w[2] == 1.0
    assert class_weights([30, 10], power=0.0).tolist() == [1.0, 1.0]
    with pytest.raises(SerError):
        class_weights([0, 0], 1.0)
    with pytest.raises(SerError, match="temperature"):
        SWFCLoss(2, temperature=0.0)
    with pytest.raises(SerError, match="focal_source"):
        SWFCLoss(2, focal_source="other")
    with pytest.raises(SerError, match="probabilities"):
        SWFCLoss(2).sample_weights(torch.tensor([0, 1]))


def test_batch_without_positive_pairs_gives_zero_in_graph():
    emb = torch.randn(3, 4, requires_grad=True)
    loss, _, _ = SWFCLoss(3, focal_gamma=0.0)(emb, torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0 and loss.requires_grad
