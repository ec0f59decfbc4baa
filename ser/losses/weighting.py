"""Task weighting for multi-task losses: total = sum_t w_t * L_t with the weights summing to 1.

With the two tasks (classification, regression) of a joint SER model, w = (lambda, 1 - lambda):
  fixed     lambda from the config (sweepable).
  dwa       Dynamic Weight Average (Liu et al., CVPR 2019, "End-to-end multi-task learning with
            attention"): at the start of epoch e, w_t = softmax_t(r_t / T) with
            r_t = L_t(e-1) / L_t(e-2), the rate at which each task's mean training loss falls; a
            task that stalls gets more weight. Epochs 1 and 2 use equal weights.
  gradnorm  GradNorm (Chen et al., ICML 2018): the weights move, by their own optimiser, so that
            the gradient norms G_t = ||d(w_t L_t)/dW|| on the last shared layer W approach the
            common target mean(G) * r_t^alpha, r_t being task t's relative inverse training rate
            (L_t / L_t(0), divided by its mean over tasks); then they are renormalised to sum 1.

The weights are never trained by the model's own optimiser: `fixed` and `dwa` keep them in a
buffer, `gradnorm` in a parameter with requires_grad=False that only its internal Adam updates,
so a shared training loop needs no change. All state (weights, initial losses, the internal
optimiser's moments) is in the module's state_dict, so resuming from a checkpoint is exact.
"""

import math

import torch
from torch import nn

from ser.utils import SerError


class TaskWeighting(nn.Module):
    """Base class: `combine(losses)` -> weighted total; `current()` -> {"w_<task>": float}."""

    def __init__(self, tasks):
        super().__init__()
        self.tasks = list(tasks)
        if len(self.tasks) < 2 or len(set(self.tasks)) != len(self.tasks):
            raise SerError(f"task weighting needs two or more distinct tasks, got {self.tasks}")
        self.register_buffer("weights", torch.full((len(self.tasks),), 1.0 / len(self.tasks)))

    def _stack(self, losses: dict) -> torch.Tensor:
        missing = [t for t in self.tasks if t not in losses]
        if missing:
            raise SerError(f"{type(self).__name__}: no loss for tasks {missing} (got {sorted(losses)})")
        return torch.stack([losses[t].reshape(()) for t in self.tasks])

    def combine(self, losses: dict, shared_params=None) -> torch.Tensor:
        """sum_t w_t * losses[t]; the weights are constants for the model's backward pass."""
        stacked = self._stack(losses)
        # A copy: GradNorm changes its weights in place before the model's backward runs.
        return (self.weights.detach().clone().to(stacked.dtype) * stacked).sum()

    def on_epoch_start(self, epoch: int, history: list) -> None:
        """Called by the model's own on_epoch_start; only DWA uses it."""

    def current(self) -> dict:
        return {f"w_{t}": round(float(w), 6) for t, w in zip(self.tasks, self.weights.tolist())}


class FixedWeighting(TaskWeighting):
    """w[lam_task] = lam, the other task 1 - lam: keyed by task name, so the order in which a
    config lists its tasks cannot swap the weights."""

    def __init__(self, tasks, lam: float = 0.5, lam_task: str | None = None):
        super().__init__(tasks)
        if len(self.tasks) != 2:
            raise SerError(f"fixed weighting with lambda is defined for two tasks, got {self.tasks}")
        if not 0.0 <= float(lam) <= 1.0:
            raise SerError(f"fixed weighting: lambda must lie in [0, 1], got {lam}")
        lam_task = self.tasks[0] if lam_task is None else lam_task
        if lam_task not in self.tasks:
            raise SerError(f"fixed weighting: lam_task '{lam_task}' is not one of the tasks {self.tasks}")
        self.weights.copy_(torch.tensor([float(lam) if t == lam_task else 1.0 - float(lam) for t in self.tasks]))


def dwa_weights(last: list, before_last: list, temperature: float = 2.0) -> list:
    """DWA's weights from two epochs' mean task losses: softmax of the loss ratios / T."""
    ratios = torch.tensor([a / max(b, 1e-12) for a, b in zip(last, before_last)], dtype=torch.float64)
    return torch.softmax(ratios / temperature, dim=0).tolist()


class DynamicWeightAverage(TaskWeighting):
    """Dynamic Weighting: weights follow each task's rate of loss decrease over the last epochs.

    `loss_key` names where the per-task mean training loss sits in the trainer's history entry
    (history[i]["train"][loss_key.format(task=t)]); the model must log those values.
    """

    def __init__(self, tasks, temperature: float = 2.0, loss_key: str = "loss_{task}"):
        super().__init__(tasks)
        if temperature <= 0:
            raise SerError(f"DWA temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.loss_key = loss_key

    def _epoch_losses(self, entry: dict) -> list:
        train = entry.get("train", {})
        keys = [self.loss_key.format(task=t) for t in self.tasks]
        missing = [k for k in keys if k not in train]
        if missing:
            raise SerError(
                f"DWA needs the per-task training losses {missing} in the history of epoch "
                f"{entry.get('epoch')}; the model must log them"
            )
        return [float(train[k]) for k in keys]

    def on_epoch_start(self, epoch: int, history: list) -> None:
        if len(history) < 2:
            self.weights.fill_(1.0 / len(self.tasks))
            return
        w = dwa_weights(self._epoch_losses(history[-1]), self._epoch_losses(history[-2]), self.temperature)
        self.weights.copy_(torch.tensor(w, dtype=self.weights.dtype))


class GradNorm(TaskWeighting):
    """Joint Weighting: weights that equalise the tasks' gradient norms on the shared layer(s).

    `combine(losses, shared_params)` must be called inside the training step, before the model's
    backward: it takes d L_t / d shared_params for each task (autograd.grad with retain_graph, so
    the graph stays for the main backward), updates the weights for the next step and returns
    the loss weighted with the weights of this step. Outside training (or without shared_params)
    it only weights.
    """

    def __init__(self, tasks, alpha: float = 1.5, lr: float = 0.01, min_weight: float = 1e-3):
        super().__init__(tasks)
        del self.weights
        n = len(self.tasks)
        # A parameter (so its optimiser can hold it across .to(device)) that the model's optimiser
        # skips because it does not require grad.
        self.weights = nn.Parameter(torch.full((n,), 1.0 / n), requires_grad=False)
        self.register_buffer("initial_losses", torch.zeros(n))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        # w_t * ||dL_t/dW|| of the last step, before its update: what GradNorm tries to equalise.
        self.register_buffer("last_weighted_norms", torch.zeros(n))
        self.alpha = float(alpha)
        self.min_weight = float(min_weight)
        self._opt = torch.optim.Adam([self.weights], lr=lr)

    def get_extra_state(self):
        return {"optimizer": self._opt.state_dict()}

    def set_extra_state(self, state):
        self._opt.load_state_dict(state["optimizer"])

    def grad_norms(self, losses: dict, shared_params) -> torch.Tensor:
        """||d L_t / d shared_params|| per task (unweighted), graph kept for the main backward."""
        params = [p for p in shared_params if p.requires_grad]
        if not params:
            raise SerError("GradNorm needs at least one trainable shared parameter")
        norms = []
        for t in self.tasks:
            grads = torch.autograd.grad(losses[t], params, retain_graph=True, allow_unused=True)
            sq = sum((g.detach().float() ** 2).sum() for g in grads if g is not None)
            norms.append(torch.sqrt(sq) if torch.is_tensor(sq) else torch.zeros(()))
        return torch.stack(norms).to(self.weights.device)

    def update(self, task_losses: torch.Tensor, grad_norms: torch.Tensor) -> None:
        """One GradNorm step on the weights from this step's (detached) losses and gradient norms."""
        task_losses = task_losses.detach().float().to(self.weights.device)
        if not bool(self.initialised):
            self.initial_losses.copy_(task_losses.clamp_min(1e-8))
            self.initialised.fill_(True)
        ratio = task_losses / self.initial_losses
        rel_rate = ratio / ratio.mean().clamp_min(1e-12)
        with torch.enable_grad():
            w = self.weights.detach().clone().requires_grad_(True)
            g = w * grad_norms
            target = (g.mean() * rel_rate**self.alpha).detach()
            (grad,) = torch.autograd.grad((g - target).abs().sum(), w)
        self.last_weighted_norms.copy_(g.detach())
        self.weights.grad = grad
        self._opt.step()
        self.weights.grad = None
        with torch.no_grad():
            self.weights.clamp_(min=self.min_weight)
            self.weights.div_(self.weights.sum())

    def combine(self, losses: dict, shared_params=None) -> torch.Tensor:
        total = super().combine(losses)
        if self.training and torch.is_grad_enabled() and shared_params is not None:
            norms = self.grad_norms(losses, shared_params)
            self.update(self._stack(losses), norms)
        return total

    def current(self) -> dict:
        out = super().current()
        if bool(self.initialised):
            out.update({f"gnorm_{t}": round(float(g), 6) for t, g in zip(self.tasks, self.last_weighted_norms)})
        return out


SCHEMES = {"fixed": FixedWeighting, "dwa": DynamicWeightAverage, "gradnorm": GradNorm}


def make_weighting(
    scheme: str,
    tasks,
    lam: float = 0.5,
    temperature: float = 2.0,
    alpha: float = 1.5,
    lr: float = 0.01,
    lam_task: str | None = None,
) -> TaskWeighting:
    """The config's `weighting` name and its options -> a TaskWeighting over `tasks`."""
    if scheme == "fixed":
        return FixedWeighting(tasks, lam=lam, lam_task=lam_task)
    if scheme == "dwa":
        return DynamicWeightAverage(tasks, temperature=temperature)
    if scheme == "gradnorm":
        if not math.isfinite(alpha) or alpha < 0:
            raise SerError(f"GradNorm alpha must be a non-negative number, got {alpha}")
        return GradNorm(tasks, alpha=alpha, lr=lr)
    raise SerError(f"unknown task weighting '{scheme}' (known: {', '.join(SCHEMES)})")
