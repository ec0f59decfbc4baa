"""ser.losses.ccc: the CCC training loss against hand-computed values and the scoring metric."""

import numpy as np
import pytest
import torch

from ser.eval.metrics import ccc as metric_ccc
from ser.losses.ccc import CCCLoss, MSELoss, batch_ccc, make_regression_loss
from ser.utils import SerError


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds contention on a busy 2-core runner."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_hand_computed_value():
    # pred mean 2.5, var 1.25; target mean 5, var 5; cov 2.5 -> 2*2.5 / (1.25 + 5 + 2.5**2) = 0.4
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0])
    target = torch.tensor([2.0, 4.0, 6.0, 8.0])
    assert batch_ccc(pred, target).item() == pytest.approx(0.4, abs=1e-6)


def test_columns_are_separate_and_loss_is_one_minus_mean():
    pred = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    target = torch.tensor([[2.0, 1.0], [4.0, 2.0], [6.0, 3.0], [8.0, 4.0]])
    per_col = batch_ccc(pred, target)
    assert per_col.tolist() == pytest.approx([0.4, 1.0], abs=1e-6)
    assert CCCLoss()(pred, target).item() == pytest.approx(1 - 0.7, abs=1e-6)


def test_prediction_equal_to_target_scores_one():
    target = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    assert batch_ccc(target.clone(), target).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
    assert CCCLoss()(target.clone(), target).item() == pytest.approx(0.0, abs=1e-6)


def test_negated_prediction_scores_minus_one():
    target = torch.tensor([[-1.0], [0.0], [1.0]])
    assert batch_ccc(-target, target).item() == pytest.approx(-1.0, abs=1e-6)


def test_agrees_with_the_scoring_metric():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(50, 3))
    pred = 0.6 * target + rng.normal(scale=0.5, size=(50, 3)) + 0.2
    ours = batch_ccc(torch.tensor(pred), torch.tensor(target)).tolist()
    ref = [metric_ccc(pred[:, i], target[:, i]) for i in range(3)]
    assert ours == pytest.approx(ref, abs=1e-5)


def test_gradient_is_finite_even_for_constant_columns():
    pred = torch.zeros(4, 3, requires_grad=True)
    loss = CCCLoss()(pred, torch.zeros(4, 3))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_gradient_descent_raises_ccc():
    torch.manual_seed(0)
    target = torch.randn(64, 3)
    pred = torch.zeros(64, 3).normal_(std=0.1).requires_grad_(True)
    opt = torch.optim.SGD([pred], lr=1.0)
    before = batch_ccc(pred.detach(), target).mean().item()
    for _ in range(50):
        opt.zero_grad()
        CCCLoss()(pred, target).backward()
        opt.step()
    assert batch_ccc(pred.detach(), target).mean().item() > max(before, 0.0) + 0.5


def test_selectable_losses_and_errors():
    assert isinstance(make_regression_loss("ccc"), CCCLoss)
    mse = make_regression_loss("mse")
    assert isinstance(mse, MSELoss)
    assert mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item() == pytest.approx(2.5)
    with pytest.raises(SerError, match="unknown regression loss"):
        make_regression_loss("l1")
    with pytest.raises(SerError, match="shape"):
        batch_ccc(torch.zeros(4, 3), torch.zeros(4, 2))
