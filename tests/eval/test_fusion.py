"""ser.eval.fusion: averaging the posteriors of several systems, and the prior correction."""

import numpy as np
import pytest

from ser.data.datadir import read_kv, write_kv
from ser.eval.fusion import class_priors, fuse
from ser.utils import SerError

CLASSES = ["a", "b", "c"]


def _system(d, posts, classes=CLASSES):
    d.mkdir()
    write_kv(d / "utt2post", {u: " ".join(str(x) for x in p) for u, p in posts.items()})
    (d / "classes.txt").write_text("\n".join(classes) + "\n")
    return d


def test_average_decides_where_the_systems_disagree(tmp_path):
    a = _system(tmp_path / "a", {"u1": [0.6, 0.4, 0.0], "u2": [0.1, 0.2, 0.7]})
    b = _system(tmp_path / "b", {"u1": [0.0, 0.9, 0.1], "u2": [0.2, 0.1, 0.7]})
    fused = fuse([a, b], CLASSES, tmp_path / "out")
    assert np.allclose(fused["u1"], [0.3, 0.65, 0.05])
    assert read_kv(tmp_path / "out/utt2emo_pred") == {"u1": "b", "u2": "c"}
    fuse([a, b], CLASSES, tmp_path / "out_w", weights=[5, 1])  # a outweighs b on u1
    assert read_kv(tmp_path / "out_w/utt2emo_pred")["u1"] == "a"


def test_mismatches_are_errors(tmp_path):
    a = _system(tmp_path / "a", {"u1": [0.6, 0.4, 0.0]})
    b = _system(tmp_path / "b", {"u2": [0.6, 0.4, 0.0]})
    with pytest.raises(SerError, match="different utterances"):
        fuse([a, b], CLASSES, tmp_path / "out")
    with pytest.raises(SerError, match="expected a,b"):
        fuse([a], ["a", "b"], tmp_path / "out")
    with pytest.raises(SerError, match="not found"):
        fuse([tmp_path / "missing"], CLASSES, tmp_path / "out")
    with pytest.raises(SerError, match="weights"):
        fuse([a, a], CLASSES, tmp_path / "out", weights=[1])


def _labels(d, labels):
    d.mkdir()
    write_kv(d / "utt2emo", {f"t{i}": e for i, e in enumerate(labels)})
    return d


def test_dividing_by_training_priors_favours_the_rare_class(tmp_path):
    train = _labels(tmp_path / "train", ["a"] * 6 + ["b"] * 3 + ["c"] * 3)
    priors = class_priors([train], CLASSES)
    assert np.allclose(priors, [0.5, 0.25, 0.25])
    sys_ = _system(tmp_path / "s", {"u1": [0.45, 0.35, 0.2]})
    fuse([sys_], CLASSES, tmp_path / "plain")
    assert read_kv(tmp_path / "plain/utt2emo_pred") == {"u1": "a"}
    fused = fuse([sys_], CLASSES, tmp_path / "bal", priors=priors)
    assert np.allclose(fused["u1"], np.array([0.9, 1.4, 0.8]) / 3.1)
    assert read_kv(tmp_path / "bal/utt2emo_pred") == {"u1": "b"}


def test_priors_need_labelled_training_dirs(tmp_path):
    with pytest.raises(SerError, match="utt2emo not found"):
        class_priors([tmp_path], CLASSES)
    bad = _labels(tmp_path / "bad", ["a", "z"])
    with pytest.raises(SerError, match="label 'z'"):
        class_priors([bad], CLASSES)


def test_posteriors_of_classes_in_another_order_are_refused(tmp_path):
    a = _system(tmp_path / "a", {"u1": [0.6, 0.4, 0.0]})
    b = _system(tmp_path / "b", {"u1": [0.0, 0.4, 0.6]}, classes=["c", "b", "a"])
    with pytest.raises(SerError, match=r"b/classes.txt: posterior columns are c,b,a, expected a,b,c"):
        fuse([a, b], None, tmp_path / "out")
    (b / "classes.txt").unlink()
    with pytest.raises(SerError, match="classes.txt not found"):
        fuse([a, b], CLASSES, tmp_path / "out")
    fused = fuse([a], None, tmp_path / "out")
    assert (tmp_path / "out/classes.txt").read_text().split() == CLASSES
    assert np.allclose(fused["u1"], [0.6, 0.4, 0.0])
