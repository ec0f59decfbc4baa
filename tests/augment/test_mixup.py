"""ser.augment.mixup."""

import torch

from ser.augment.mixup import mix, mixed_cross_entropy, mixup_pairs


def test_alpha_zero_means_no_mixing():
    lam, perm = mixup_pairs(8, 0.0)
    assert lam == 1.0 and torch.equal(perm, torch.arange(8))
    x = torch.randn(8, 3)
    assert torch.equal(mix(x, lam, perm), x)


def test_draws_are_seeded_and_in_range():
    torch.manual_seed(3)
    a = mixup_pairs(16, 0.4)
    torch.manual_seed(3)
    b = mixup_pairs(16, 0.4)
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    assert 0.0 < a[0] < 1.0 and sorted(a[1].tolist()) == list(range(16))


def test_mixed_loss_equals_cross_entropy_with_mixed_one_hot_targets():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    lam, perm = 0.7, torch.tensor([5, 4, 3, 2, 1, 0])
    soft = lam * torch.nn.functional.one_hot(target, 4) + (1 - lam) * torch.nn.functional.one_hot(target[perm], 4)
    expected = -(soft * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(mixed_cross_entropy(logits, target, lam, perm), expected, atol=1e-6)
    mixed = mix(torch.eye(6), lam, perm)
    assert torch.allclose(mixed[0], lam * torch.eye(6)[0] + (1 - lam) * torch.eye(6)[5])


def test_ignored_targets_stay_ignored():
    logits = torch.randn(4, 2)
    target = torch.tensor([0, -1, 1, 1])
    loss = mixed_cross_entropy(logits, target, 0.5, torch.tensor([1, 0, 3, 2]), ignore_index=-1)
    assert torch.isfinite(loss)
