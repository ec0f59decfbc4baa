"""Figures of a system's scores, written beside them by scoring (matplotlib, headless Agg backend):
confusion matrix (counts and row-normalised), per-class recall bars, and for dimensional outputs
predicted against true valence / arousal / dominance with each dimension's CCC in its title."""

from pathlib import Path

import numpy as np

from ser.eval.metrics import ccc
from ser.utils import atomic_path

VAD = ("valence", "arousal", "dominance")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: scoring runs on servers and in batch jobs
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def confusion_png(path, cm, classes, title: str) -> None:
    """Counts and row-normalised (recall per true class) side by side."""
    plt = _pyplot()
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.2 * n, 1.5 + 0.6 * n))
    for ax, mat, name, fmt in ((axes[0], cm, "counts", "{:.0f}"), (axes[1], norm, "row-normalised", "{:.2f}")):
        ax.imshow(mat, cmap="Blues", vmin=0, vmax=max(mat.max(), 1e-9))
        ax.set_xticks(range(n), classes, rotation=45)
        ax.set_yticks(range(n), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, fmt.format(mat[i, j]), ha="center", va="center",
                        color="white" if mat[i, j] > 0.6 * mat.max() else "black", fontsize=8)  # fmt: skip
    fig.suptitle(title)
    _save(fig, path)


def recall_png(path, cm, classes, title: str) -> None:
    plt = _pyplot()
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(1)
    recall = np.divide(np.diag(cm), rows, out=np.zeros(len(classes)), where=rows > 0)
    fig, ax = plt.subplots(figsize=(2 + 0.7 * len(classes), 3.5))
    ax.bar(range(len(classes)), recall, color="tab:blue")
    ax.axhline(recall[rows > 0].mean() if (rows > 0).any() else 0, color="tab:red", ls="--", label="UA (mean)")
    ax.set_xticks(range(len(classes)), classes, rotation=45)
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall")
    ax.legend(loc="upper right")
    ax.set_title(title)
    _save(fig, path)


def vad_png(path, pred, true, title: str) -> None:
    """One scatter per dimension, predicted against true, CCC in its title."""
    plt = _pyplot()
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for d, ax in enumerate(axes):
        ax.scatter(true[:, d], pred[:, d], s=8, alpha=0.5)
        lo, hi = min(true[:, d].min(), pred[:, d].min()), max(true[:, d].max(), pred[:, d].max())
        ax.plot([lo, hi], [lo, hi], color="gray", lw=1)
        ax.set_xlabel(f"true {VAD[d]}")
        ax.set_ylabel(f"predicted {VAD[d]}")
        ax.set_title(f"{VAD[d]}: CCC {ccc(pred[:, d], true[:, d]):.3f}")
    fig.suptitle(title, y=1.03)  # above the panels' own titles
    _save(fig, path)


def write_plots(out_dir, title: str, cm=None, classes=None, vad_pred=None, vad_true=None) -> list[Path]:
    """The figures there are scores for, into out_dir; returns their paths."""
    out_dir, written = Path(out_dir), []
    if cm is not None:
        confusion_png(out_dir / "confusion.png", cm, classes, title)
        recall_png(out_dir / "recall.png", cm, classes, title)
        written += [out_dir / "confusion.png", out_dir / "recall.png"]
    if vad_pred is not None and len(vad_pred) > 1:
        vad_png(out_dir / "vad.png", vad_pred, vad_true, title)
        written.append(out_dir / "vad.png")
    return written
