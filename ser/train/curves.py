"""Training curves of a fold from its history.json (the trainer's per-epoch log): training loss,
validation loss when logged, and every validation metric, as curves.png; and TensorBoard event
files (<exp>/tensorboard/) when the `tensorboard` package is installed (setup.py extra).

  python -m ser.train.curves exp/x/fold1 [exp/x/fold2 ...]
"""

import json
import shutil
import sys
from pathlib import Path

from ser.utils import SerError, atomic_path, get_logger

log = get_logger("curves")


def read_history(exp_dir) -> list[dict]:
    path = Path(exp_dir) / "history.json"
    if not path.is_file():
        raise SerError(f"{path} not found: the fold has not trained an epoch (a closed-form model has no curves)")
    history = json.loads(path.read_text())
    if not history:
        raise SerError(f"{path} holds no epoch")
    return history


def series(history: list[dict]) -> dict:
    """{"train/<key>" | "valid/<key>": (epochs, values)} of every number logged per epoch."""
    out = {}
    for h in history:
        for part in ("train", "valid"):
            for key, value in (h.get(part) or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    xs, ys = out.setdefault(f"{part}/{key}", ([], []))
                    xs.append(h["epoch"])
                    ys.append(float(value))
    return out


def curves_png(exp_dir, history: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = series(history)
    losses = {k: v for k, v in curves.items() if k.endswith("loss")}
    metrics = {k: v for k, v in curves.items() if k.startswith("valid/") and not k.endswith("loss")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, group, ylabel in ((axes[0], losses, "loss"), (axes[1], metrics, "validation metric")):
        for name, (xs, ys) in sorted(group.items()):
            ax.plot(xs, ys, marker="o", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if group:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{Path(exp_dir).resolve().parent.name}/{Path(exp_dir).name}: {len(history)} epochs")
    out = Path(exp_dir) / "curves.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def tensorboard_events(exp_dir, history: list[dict]) -> Path | None:
    """Rewrites <exp>/tensorboard from the whole history (a resumed run has one, not two, logs)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the optional extra: pip install 'ser-recipes[tensorboard]'
        return None
    out = Path(exp_dir) / "tensorboard"
    shutil.rmtree(out, ignore_errors=True)
    with SummaryWriter(str(out)) as writer:
        for name, (xs, ys) in series(history).items():
            for x, y in zip(xs, ys):
                writer.add_scalar(name, y, x)
    return out


def write_curves(exp_dir) -> list[Path]:
    history = read_history(exp_dir)
    written = [curves_png(exp_dir, history)]
    events = tensorboard_events(exp_dir, history)
    return written + ([events] if events else [])


def main(argv=None) -> None:
    dirs = sys.argv[1:] if argv is None else argv
    if not dirs:
        raise SerError("usage: python -m ser.train.curves <exp-dir> [<exp-dir> ...]")
    for d in dirs:
        for path in write_curves(d):
            log.info("wrote %s", path)


if __name__ == "__main__":
    from ser.utils import run_main

    run_main(main)
