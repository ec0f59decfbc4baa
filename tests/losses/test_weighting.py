"""ser.losses.weighting: fixed lambda, Dynamic Weight Average and GradNorm on toy two-task problems."""

import io
import math

import pytest
import torch
from torch import nn

from ser.losses.weighting import DynamicWeightAverage, FixedWeighting, GradNorm, dwa_weights, make_weighting
from ser.utils import SerError


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds contention on a busy 2-core runner."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class ToyTwoTask(nn.Module):
    """A shared layer and two linear heads; task b's targets are `scale_b` times larger, so its
    loss and its gradients on the shared layer are much larger than task a's."""

    def __init__(self, scale_b=20.0, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.shared = nn.Linear(4, 16)
        self.head_a, self.head_b = nn.Linear(16, 1), nn.Linear(16, 1)
        self.x = torch.randn(128, 4, generator=g)
        self.y_a = self.x @ torch.randn(4, 1, generator=g)
        self.y_b = scale_b * torch.tanh(self.x @ torch.randn(4, 1, generator=g))

    def losses(self):
        h = torch.tanh(self.shared(self.x))
        return {
            "a": nn.functional.mse_loss(self.head_a(h), self.y_a),
            "b": nn.functional.mse_loss(self.head_b(h), self.y_b),
        }


def test_fixed_lambda_combines_losses():
    w = FixedWeighting(["cls", "reg"], lam=0.3)
    total = w.combine({"cls": torch.tensor(2.0), "reg": torch.tensor(10.0)})
    assert total.item() == pytest.approx(0.3 * 2.0 + 0.7 * 10.0)
    assert w.current() == {"w_cls": pytest.approx(0.3), "w_reg": pytest.approx(0.7)}
    w.on_epoch_start(5, [{"train": {"loss_cls": 1.0, "loss_reg": 1.0}}] * 4)
    assert w.current()["w_cls"] == pytest.approx(0.3)  # fixed stays fixed


def test_fixed_lambda_errors():
    with pytest.raises(SerError, match="lambda"):
        FixedWeighting(["cls", "reg"], lam=1.5)
    with pytest.raises(SerError, match="two tasks"):
        FixedWeighting(["a", "b", "c"], lam=0.5)
    with pytest.raises(SerError, match="unknown task weighting"):
        make_weighting("uncertainty", ["a", "b"])
    with pytest.raises(SerError, match="distinct tasks"):
        make_weighting("dwa", ["a"])


def test_dwa_weights_hand_computed():
    # ratios 1.0 (stalled) and 0.5 (halving), T = 2: softmax([0.5, 0.25])
    w = dwa_weights([1.0, 0.5], [1.0, 1.0], temperature=2.0)
    expected = math.exp(0.5) / (math.exp(0.5) + math.exp(0.25))
    assert w == pytest.approx([expected, 1 - expected], abs=1e-9)
    assert w[0] > w[1]  # the task whose loss stalls gets the larger weight


def test_dwa_follows_loss_ratios_on_a_toy_problem():
    torch.manual_seed(0)
    model = ToyTwoTask()
    dwa = DynamicWeightAverage(["a", "b"], temperature=2.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history, seen = [], []
    for epoch in range(1, 7):
        dwa.on_epoch_start(epoch, history)
        w = dwa.weights.tolist()
        seen.append(w)
        if epoch <= 2:
            assert w == pytest.approx([0.5, 0.5])
        else:
            prev, prev2 = history[-1]["train"], history[-2]["train"]
            r = [prev["loss_a"] / prev2["loss_a"], prev["loss_b"] / prev2["loss_b"]]
            e = [math.exp(x / 2.0) for x in r]
            assert w == pytest.approx([e[0] / sum(e), e[1] / sum(e)], abs=1e-6)
            assert (w[0] > w[1]) == (r[0] > r[1])
        sums = {"loss_a": 0.0, "loss_b": 0.0}
        for _ in range(5):
            losses = model.losses()
            opt.zero_grad()
            dwa.combine(losses).backward()
            opt.step()
            sums["loss_a"] += losses["a"].item() / 5
            sums["loss_b"] += losses["b"].item() / 5
        history.append({"epoch": epoch, "train": sums})
    assert max(abs(w[0] - 0.5) for w in seen[2:]) > 1e-3  # the weights really moved


def test_dwa_needs_logged_task_losses():
    dwa = DynamicWeightAverage(["cls", "reg"])
    with pytest.raises(SerError, match="loss_reg"):
        dwa.on_epoch_start(3, [{"epoch": 1, "train": {"loss_cls": 1.0}}, {"epoch": 2, "train": {"loss_cls": 1.0}}])


def _weighted_norms(model, gn):
    losses = model.losses()
    g = gn.grad_norms(losses, [model.shared.weight])
    return (gn.weights.detach() * g).tolist(), g.tolist()


def test_gradnorm_equalises_gradient_norms():
    model = ToyTwoTask(scale_b=20.0)
    gn = GradNorm(["a", "b"], alpha=0.0, lr=0.02)  # alpha 0: the target is the plain mean norm
    gn.train()
    (wa, wb), (ga, gb) = _weighted_norms(model, gn)
    assert max(wa, wb) / min(wa, wb) > 5  # far apart at the start
    for _ in range(5):  # the full path: gradient norms taken from the losses' graph
        gn.combine(model.losses(), shared_params=[model.shared.weight])
    # The network is fixed, so its losses and unweighted norms are too: iterate the weight update.
    losses = model.losses()
    norms = gn.grad_norms(losses, [model.shared.weight])
    for _ in range(400):
        gn.update(torch.stack([losses["a"], losses["b"]]).detach(), norms)
    (wa, wb), _ = _weighted_norms(model, gn)
    assert wa / wb == pytest.approx(1.0, abs=0.1)
    # At equality w_a g_a = w_b g_b with w_a + w_b = 1, i.e. w_a = g_b / (g_a + g_b).
    assert gn.weights[0].item() == pytest.approx(gb / (ga + gb), abs=0.02)
    assert gn.weights.sum().item() == pytest.approx(1.0)


def test_gradnorm_alpha_favours_the_slower_task():
    """With alpha > 0 the task that trained less (higher L/L0) gets the larger gradient share."""
    gn = GradNorm(["a", "b"], alpha=1.5, lr=0.02)
    gn.train()
    gn.update(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))  # initial losses 1, 1
    for _ in range(300):
        gn.update(torch.tensor([0.9, 0.3]), torch.tensor([1.0, 1.0]))  # a fell less than b
    assert gn.weights[0].item() > 0.6


def test_gradnorm_weights_are_not_model_parameters_to_train_and_resume_exactly():
    model = ToyTwoTask()
    gn = GradNorm(["a", "b"], alpha=1.5, lr=0.02)
    gn.train()
    assert not any(p.requires_grad for p in gn.parameters())  # a trainer's optimiser skips them
    for _ in range(5):
        losses = model.losses()
        total = gn.combine(losses, shared_params=[model.shared.weight])
        total.backward()  # the graph survived the gradient-norm pass
    buf = io.BytesIO()
    torch.save(gn.state_dict(), buf)
    buf.seek(0)
    restored = GradNorm(["a", "b"], alpha=1.5, lr=0.02)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    restored.train()
    assert torch.equal(restored.weights, gn.weights)
    assert torch.equal(restored.initial_losses, gn.initial_losses)
    for _ in range(3):
        for w in (gn, restored):
            w.combine(model.losses(), shared_params=[model.shared.weight])
    assert torch.equal(restored.weights, gn.weights)  # Adam moments came back too


def test_gradnorm_only_weights_outside_training():
    model = ToyTwoTask()
    gn = GradNorm(["a", "b"])
    gn.eval()
    before = gn.weights.clone()
    total = gn.combine(model.losses(), shared_params=[model.shared.weight])
    assert torch.equal(gn.weights, before)
    losses = model.losses()
    assert total.item() == pytest.approx(0.5 * losses["a"].item() + 0.5 * losses["b"].item(), rel=1e-6)
