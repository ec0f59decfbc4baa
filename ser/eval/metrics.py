"""Emotion metrics: WA (accuracy), UA (mean per-class recall), macro-F1, confusion, CCC.

UA and macro-F1 average over the configured class set (`num_classes`), the same rule for both: a
class absent from the references of a fold counts 0 in each (sklearn's zero_division=0), so a fold
without a class scores lower rather than averaging fewer classes. Scoring also reports the pooled
scores (all folds' predictions together), where every class is present.

Recall and F1 are computed here from counts, with sklearn's definitions (the tests compare them with
sklearn.metrics): importing sklearn.metrics costs about 2 s per process, and every training,
inference and scoring job of a recipe imports this module.
"""

import numpy as np


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts [reference, prediction] over classes 0..num_classes-1; pairs with a label outside them
    are left out (as sklearn's confusion_matrix with `labels`)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64).ravel(), np.asarray(y_pred, dtype=np.int64).ravel()
    keep = (y_true >= 0) & (y_true < num_classes) & (y_pred >= 0) & (y_pred < num_classes)
    flat = y_true[keep] * num_classes + y_pred[keep]
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _per_class(y_true, y_pred, labels: list) -> tuple:
    """Recall and F1 of each label in `labels` (0 where undefined: sklearn's zero_division=0)."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in labels], dtype=np.float64)
    support = np.array([np.sum(y_true == c) for c in labels], dtype=np.float64)
    predicted = np.array([np.sum(y_pred == c) for c in labels], dtype=np.float64)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=support + predicted > 0)
    return recall, f1


def wa(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean())


def ua(y_true, y_pred, num_classes: int | None = None) -> float:
    """Mean recall over the configured classes 0..num_classes-1 (an absent class counts 0); without
    num_classes, over the classes present in y_true."""
    labels = list(range(num_classes)) if num_classes else sorted(set(np.asarray(y_true).tolist()))
    return float(_per_class(y_true, y_pred, labels)[0].mean())


def absent_classes(y_true, num_classes: int) -> list:
    """Indices of configured classes with no reference utterance."""
    return sorted(set(range(num_classes)) - set(np.asarray(y_true).tolist()))


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    return float(_per_class(y_true, y_pred, list(range(num_classes)))[1].mean())


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
