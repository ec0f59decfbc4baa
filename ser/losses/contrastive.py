"""Sample-Weighted Focal Contrastive (SWFC) loss: a supervised contrastive loss over the batch
whose per-anchor weights grow for hard samples (focal term) and for minority classes
(class-frequency term).

Supervised contrastive loss (Khosla et al., 2020, the `L_out` form): with L2-normalised embeddings
z and temperature tau, anchor i with positives P(i) (same label, not i) and all others A(i):

    L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / tau) / sum_{a in A(i)} exp(z_i.z_a / tau) )

SWFC = mean over anchors that have a positive of w_i * L_i, with

    w_i = c_{y_i} * (1 - p_i)^gamma

  c_y   class-frequency weight n_y^(-class_power), scaled so the training-set mean weight is 1
        (class_power 0: every class 1; 1: inverse frequency; 0.5: its square root)
  p_i   the emotion classifier's (detached) probability of the true class, so a misclassified
        sample (small p_i) weighs more, as in the focal loss; gamma 0 switches it off.
        focal_source "contrastive" instead puts the focal factor on each positive pair,
        -(1 - q_ip)^gamma log q_ip with q_ip the softmax term above (a focal contrastive loss).

With class_power 0 and gamma 0 it is exactly the supervised contrastive loss. The paper names the
loss but not its formula; this is the reading documented in the recipes' README.

Cross-batch memory (`queue_size` > 0; Wang et al., CVPR 2020, "Cross-Batch Memory for Embedding
Learning"): the detached embeddings and labels of the last `queue_size` training samples join each
batch as extra positives and negatives (never as anchors, no gradient through them). Without it an
anchor counts only if a same-class sample shares its micro-batch, which a rare class seldom has, so
its large class weight is mostly multiplied by zero. `effective_weights` (weight x has-positive) is
what the loss really applies; the model logs it per class.
"""

import torch
from torch import nn

from ser.utils import SerError

FOCAL_SOURCES = ("classifier", "contrastive")


def class_weights(counts, power: float) -> torch.Tensor:
    """n_c^-power per class, scaled so that sum_c n_c w_c = N (mean weight 1 over the training set).
    A class without training samples gets 1 (it never occurs as a label there)."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise SerError(f"class counts must be non-negative with a positive total, got {counts.tolist()}")
    present = counts > 0
    w = torch.ones_like(counts)
    w[present] = counts[present] ** (-power)
    w[present] *= counts.sum() / (counts[present] * w[present]).sum()
    return w.float()


def supcon_terms(
    emb: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    focal_gamma: float = 0.0,
    memory: torch.Tensor | None = None,
    memory_labels: torch.Tensor | None = None,
):
    """Per-anchor supervised contrastive losses (B,) and a (B,) mask of anchors with a positive.
    The candidates are the other batch samples plus, if given, `memory` (M, D) with
    `memory_labels` (M,) (label < 0: an empty slot, ignored). focal_gamma > 0 applies
    (1 - q)^gamma to each positive pair's -log q."""
    z = nn.functional.normalize(emb.float(), dim=-1)
    n = z.shape[0]
    cand, cand_labels = z, labels
    ignore = torch.eye(n, dtype=torch.bool, device=z.device)
    if memory is not None and memory.shape[0]:
        mem = nn.functional.normalize(memory.float().detach(), dim=-1)
        cand, cand_labels = torch.cat([z, mem]), torch.cat([labels, memory_labels])
        empty = (memory_labels < 0)[None, :].expand(n, -1)
        ignore = torch.cat([ignore, empty], dim=1)
    sim = (z @ cand.T / temperature).masked_fill(ignore, float("-inf"))
    log_q = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == cand_labels[None, :]) & ~ignore
    nll = -torch.where(pos, log_q, torch.zeros_like(log_q))
    if focal_gamma > 0:
        q = torch.where(pos, log_q, torch.zeros_like(log_q)).exp()
        nll = nll * (1 - q).clamp(min=0) ** focal_gamma
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    return nll.sum(1) / n_pos.clamp(min=1), has_pos


class SWFCLoss(nn.Module):
    def __init__(
        self,
        num_classes: int,
        class_counts=None,
        temperature: float = 0.1,
        focal_gamma: float = 2.0,
        class_power: float = 0.5,
        focal_source: str = "classifier",
        queue_size: int = 0,
        emb_dim: int | None = None,
    ):
        super().__init__()
        if temperature <= 0:
            raise SerError(f"SWFC temperature must be positive, got {temperature}")
        if focal_gamma < 0 or class_power < 0:
            raise SerError(f"SWFC focal_gamma and class_power must be >= 0, got {focal_gamma}, {class_power}")
        if focal_source not in FOCAL_SOURCES:
            raise SerError(f"SWFC focal_source '{focal_source}' is not one of {FOCAL_SOURCES}")
        self.temperature = temperature
        self.focal_gamma = focal_gamma
        self.focal_source = focal_source
        counts = class_counts if class_counts is not None and sum(class_counts) > 0 else [1] * num_classes
        if len(counts) != num_classes:
            raise SerError(f"SWFC: {len(counts)} class counts for {num_classes} classes")
        self.register_buffer("class_weight", class_weights(counts, class_power))
        if queue_size < 0 or (queue_size and not emb_dim):
            raise SerError(f"SWFC queue_size must be >= 0 (and needs emb_dim), got {queue_size}, {emb_dim}")
        self.queue_size = int(queue_size)
        if self.queue_size:
            # In the state dict, so a resumed run continues with the same memory.
            self.register_buffer("queue_emb", torch.zeros(self.queue_size, int(emb_dim)))
            self.register_buffer("queue_labels", torch.full((self.queue_size,), -1, dtype=torch.long))
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _enqueue(self, emb: torch.Tensor, labels: torch.Tensor) -> None:
        emb, labels = emb.detach()[-self.queue_size :], labels[-self.queue_size :]
        idx = (self.queue_ptr + torch.arange(len(labels), device=labels.device)) % self.queue_size
        self.queue_emb[idx] = emb.to(self.queue_emb.dtype)
        self.queue_labels[idx] = labels
        self.queue_ptr.fill_(int((self.queue_ptr + len(labels)) % self.queue_size))

    def sample_weights(self, labels: torch.Tensor, probs: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) weights: class-frequency weight times, with the classifier focal source, (1 - p_true)^gamma."""
        w = self.class_weight[labels]
        if self.focal_source == "classifier" and self.focal_gamma > 0:
            if probs is None:
                raise SerError("SWFC with focal_source 'classifier' needs the classifier's probabilities")
            p = probs.detach().float().gather(1, labels[:, None]).squeeze(1)
            w = w * (1 - p).clamp(min=0) ** self.focal_gamma
        return w

    def forward(self, emb: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor | None = None):
        """-> (loss, per-sample weights, has-positive mask); their product is the effective weight
        the loss applies. Anchors without a
        positive in the batch (or the memory) do not count; a batch without any positive pair
        gives a zero loss that still belongs to the graph. In training mode the batch then
        enters the memory."""
        gamma = self.focal_gamma if self.focal_source == "contrastive" else 0.0
        memory = (self.queue_emb, self.queue_labels) if self.queue_size else (None, None)
        per_anchor, has_pos = supcon_terms(emb, labels, self.temperature, gamma, *memory)
        weights = self.sample_weights(labels, probs)
        if self.queue_size and self.training:
            self._enqueue(nn.functional.normalize(emb.float(), dim=-1), labels)
        if not has_pos.any():
            return emb.sum() * 0.0, weights, has_pos
        return (weights * per_anchor)[has_pos].mean(), weights, has_pos
