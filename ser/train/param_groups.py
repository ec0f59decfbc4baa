"""Optimiser parameter groups: a pretrained part at `train.lr`, the freshly initialised rest (heads,
fusion, projections) at `train.head_lr`. A model names its pretrained part with
`pretrained_parameters()`; one learning rate suits either the pretrained weights (small steps, or
they forget) or new layers (large steps, or they barely move), not both."""

from torch import nn

from ser.utils import SerError, get_logger

log = get_logger("param_groups")


def param_groups(model: nn.Module, lr: float, head_lr: float) -> list[dict]:
    """[{"params", "lr", "name"}]: one group at `lr` when head_lr is 0, else pretrained at `lr` and
    the rest at `head_lr`. Frozen parameters are left out."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not head_lr:
        return [{"params": trainable, "lr": lr, "name": "all"}]
    if not hasattr(model, "pretrained_parameters"):
        raise SerError(
            f"train.head_lr is set but model {type(model).__name__} names no pretrained part "
            "(pretrained_parameters()); leave train.head_lr at 0"
        )
    pretrained = {id(p) for p in model.pretrained_parameters()}
    groups = [
        {"params": [p for p in trainable if id(p) in pretrained], "lr": lr, "name": "pretrained"},
        {"params": [p for p in trainable if id(p) not in pretrained], "lr": head_lr, "name": "new"},
    ]
    groups = [g for g in groups if g["params"]]
    log.info(
        "parameter groups: %s",
        ", ".join(f"{g['name']} lr {g['lr']:g} ({sum(p.numel() for p in g['params']) / 1e6:.2f}M)" for g in groups),
    )
    return groups
