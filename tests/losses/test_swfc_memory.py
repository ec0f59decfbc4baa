"""SWFC's minority weighting under realistic class shares: without a cross-batch memory a rare
class seldom has a positive in its micro-batch, so its effective weight (weight x has-positive)
collapses; with the memory it stays above the most frequent class's."""

import numpy as np
import pytest
import torch

from ser.losses.contrastive import SWFCLoss

# MSP-Podcast-like shares of 8 classes (neutral and happy dominate, fear and disgust are rare).
SHARES = {"N": 0.40, "H": 0.25, "A": 0.09, "S": 0.08, "C": 0.07, "U": 0.05, "D": 0.035, "F": 0.025}


def effective_weights(queue_size, batches=400, batch_size=16, seed=0):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    counts = [int(10000 * s) for s in SHARES.values()]
    loss_fn = SWFCLoss(8, counts, focal_gamma=0.0, class_power=0.5, queue_size=queue_size, emb_dim=8).train()
    sums, n = np.zeros(8), np.zeros(8)
    for _ in range(batches):
        y = torch.from_numpy(rng.choice(8, size=batch_size, p=list(SHARES.values())))
        loss, w, has_pos = loss_fn(torch.randn(batch_size, 8, requires_grad=True), y)
        assert torch.isfinite(loss)
        np.add.at(sums, y.numpy(), (w * has_pos).numpy())
        np.add.at(n, y.numpy(), 1)
    return sums / n, loss_fn.class_weight.numpy()


def test_rare_classes_keep_their_weight_with_the_memory():
    eff, configured = effective_weights(queue_size=0)
    rare, frequent = 7, 0
    assert configured[rare] / configured[frequent] == pytest.approx(4.0, rel=0.01)
    # The failure: in-batch positives only, the rarest class's effective weight falls far below its configured one
    # and the configured 4x advantage over the most frequent class is mostly gone.
    assert eff[rare] / eff[frequent] < 0.5 * configured[rare] / configured[frequent]

    eff, configured = effective_weights(queue_size=512)
    assert eff[rare] > eff[frequent]
    assert eff[rare] / eff[frequent] == pytest.approx(configured[rare] / configured[frequent], rel=0.05)
    assert np.all(np.diff(eff[np.argsort(-np.array(list(SHARES.values())))]) >= -1e-6)  # rarer never weighs less


def test_memory_positives_count_in_the_loss_but_carry_no_gradient():
    loss_fn = SWFCLoss(2, focal_gamma=0.0, class_power=0.0, queue_size=4, emb_dim=3).train()
    first = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss, _, has_pos = loss_fn(first, torch.tensor([0, 1]))
    assert not has_pos.any() and loss.item() == 0.0
    emb = torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.1]], requires_grad=True)
    loss, _, has_pos = loss_fn(emb, torch.tensor([0, 1]))  # the previous batch is in the memory now
    assert has_pos.all() and loss.item() > 0
    loss.backward()
    assert emb.grad.abs().sum() > 0
    assert not loss_fn.queue_emb.requires_grad
    # Evaluation does not fill the memory; the memory is in the state dict (exact resume).
    loss_fn.eval()
    before = loss_fn.queue_labels.clone()
    loss_fn(torch.randn(2, 3), torch.tensor([1, 1]))
    assert torch.equal(loss_fn.queue_labels, before)
    assert {"queue_emb", "queue_labels", "queue_ptr"} <= set(loss_fn.state_dict())
