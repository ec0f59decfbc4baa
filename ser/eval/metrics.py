"""Emotion metrics: WA (accuracy), UA (mean per-class recall), macro-F1, confusion, CCC.

UA and macro-F1 average over the configured class set (`num_classes`), the same rule for both: a
class absent from the references of a fold counts 0 in each (sklearn's zero_division=0), so a fold
without a class scores lower rather than averaging fewer classes. Scoring also reports the pooled
scores (all folds' predictions together), where every class is present.
"""

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import f1_score, recall_score


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    return _sk_confusion(y_true, y_pred, labels=list(range(num_classes)))


def wa(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean())


def ua(y_true, y_pred, num_classes: int | None = None) -> float:
    """Mean recall over the configured classes 0..num_classes-1 (an absent class counts 0); without
    num_classes, over the classes present in y_true."""
    labels = list(range(num_classes)) if num_classes else sorted(set(np.asarray(y_true).tolist()))
    return float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def absent_classes(y_true, num_classes: int) -> list:
    """Indices of configured classes with no reference utterance."""
    return sorted(set(range(num_classes)) - set(np.asarray(y_true).tolist()))


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    return float(f1_score(y_true, y_pred, labels=list(range(num_classes)), average="macro", zero_division=0))


def ccc(pred, target) -> float:
    """Lin's concordance correlation coefficient (population statistics)."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    mp, mt = pred.mean(), target.mean()
    vp, vt = pred.var(), target.var()
    cov = ((pred - mp) * (target - mt)).mean()
    denom = vp + vt + (mp - mt) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


VAD_NAMES = ("valence", "arousal", "dominance")


def classification_scores(y_true, y_pred, num_classes: int) -> dict:
    return {
        "wa": wa(y_true, y_pred),
        "ua": ua(y_true, y_pred, num_classes),
        "macro_f1": macro_f1(y_true, y_pred, num_classes),
    }


def regression_scores(pred, target) -> dict:
    """CCC per dimension and their mean; a dimension the model does not predict (all NaN, e.g.
    bridge_tokens with `vad_dims: [v, a]`) is left out of both."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target)
    out = {
        f"ccc_{n}": ccc(pred[:, i], target[:, i])
        for i, n in enumerate(VAD_NAMES[: pred.shape[1]])
        if not np.isnan(pred[:, i]).all()
    }
    out["ccc_mean"] = float(np.mean(list(out.values())))
    return out


def add_combined(scores: dict) -> dict:
    """Adds `ua_ccc`, the mean of UA and mean CCC, when a joint model has both: selecting a joint
    model on UA alone reports the CCC of its UA-best epoch, tilting a comparison with a
    regression-only model selected on CCC."""
    if "ua" in scores and "ccc_mean" in scores:
        scores["ua_ccc"] = 0.5 * (scores["ua"] + scores["ccc_mean"])
    return scores
