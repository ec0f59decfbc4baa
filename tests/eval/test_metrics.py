import numpy as np
import pytest

from ser.eval.metrics import absent_classes, ccc, classification_scores, confusion, regression_scores


def test_classification_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 2, 1]
    s = classification_scores(y_true, y_pred, 3)
    assert s["wa"] == pytest.approx(5 / 8)
    assert s["ua"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    # F1 per class: c0 p=3/4 r=3/4 -> .75; c1 p=1/3 r=1/2 -> .4; c2 p=1 r=1/2 -> 2/3
    assert s["macro_f1"] == pytest.approx((0.75 + 0.4 + 2 / 3) / 3)
    assert confusion(y_true, y_pred, 3).tolist() == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]


def test_ccc_by_hand():
    pred, target = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])
    # means 2 and 3; vars 2/3 and 2; cov = ((-1)(-1) + 0 + (1)(2)) / 3 = 1
    assert ccc(pred, target) == pytest.approx(2 * 1 / (2 / 3 + 2 + 1))
    assert ccc(target, target) == pytest.approx(1.0)
    assert ccc(-target, target) < 0


def test_regression_scores_mean():
    t = np.random.default_rng(0).standard_normal((20, 3))
    s = regression_scores(t, t)
    assert s["ccc_mean"] == pytest.approx(1.0) and set(s) == {"ccc_valence", "ccc_arousal", "ccc_dominance", "ccc_mean"}


def test_ua_and_macro_f1_use_the_configured_class_set():
    # Class 2 of 3 is absent from this fold's references. Before, UA averaged the 2 present classes
    # (1.0) while macro-F1 counted the absent one as 0 (2/3): two rules in one table.
    y_true, y_pred = [0, 0, 1, 1], [0, 0, 1, 1]
    s = classification_scores(y_true, y_pred, 3)
    assert s["ua"] == pytest.approx(2 / 3)
    assert s["macro_f1"] == pytest.approx(2 / 3)
    assert absent_classes(y_true, 3) == [2]
    assert classification_scores(y_true, y_pred, 2)["ua"] == pytest.approx(1.0)


def test_recall_f1_and_confusion_agree_with_sklearn():
    from sklearn.metrics import confusion_matrix, f1_score, recall_score

    rng = np.random.default_rng(0)
    for n, k in [(50, 4), (7, 5), (200, 8)]:
        y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)
        y_true[y_true == k - 1] = 0  # one class absent from the references
        labels = list(range(k))
        s = classification_scores(y_true, y_pred, k)
        assert s["ua"] == pytest.approx(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        assert s["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        assert (confusion(y_true, y_pred, k) == confusion_matrix(y_true, y_pred, labels=labels)).all()
