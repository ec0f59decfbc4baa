"""Class posteriors on disk: `utt2post` (one row of probabilities per utterance), `utt2emo_pred`
(the arg-max class) and `classes.txt` (the class of each column, one per line).

Posterior columns carry no names in `utt2post` itself, so every writer puts `classes.txt` beside it
and every reader checks it: combining systems whose class lists differ in order would otherwise
score silently wrong (a reordered list once fused a fold at UA 12.68 instead of 66.21).
"""

from pathlib import Path

import numpy as np

from ser.data.datadir import read_kv, write_kv
from ser.utils import SerError, write_text_atomic

CLASSES_FILE = "classes.txt"


def write_posteriors(out_dir, utts, post, classes) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    post = np.asarray(post)
    if post.ndim != 2 or post.shape[1] != len(classes):
        raise SerError(f"{out_dir}: {post.shape[-1]} posterior columns for {len(classes)} classes {list(classes)}")
    write_text_atomic(out_dir / CLASSES_FILE, "".join(f"{c}\n" for c in classes))
    write_kv(out_dir / "utt2post", {u: " ".join(f"{x:.5f}" for x in p) for u, p in zip(utts, post)})
    write_kv(out_dir / "utt2emo_pred", {u: classes[int(p.argmax())] for u, p in zip(utts, post)})


def read_classes(pred_dir) -> list:
    path = Path(pred_dir) / CLASSES_FILE
    if not path.is_file():
        raise SerError(
            f"{path} not found: the posteriors of {pred_dir} do not say which class each column is "
            "(written by an older version?); run that system's inference stage again"
        )
    return path.read_text().split()


def read_posteriors(pred_dir, classes=None) -> tuple:
    """-> ({utt: probabilities}, classes); with `classes` given, the file's classes must be exactly those."""
    pred_dir = Path(pred_dir)
    path = pred_dir / "utt2post"
    if not path.is_file():
        raise SerError(f"{path} not found: run inference of that system first")
    own = read_classes(pred_dir)
    if classes is not None and list(classes) != own:
        raise SerError(
            f"{pred_dir / CLASSES_FILE}: posterior columns are {','.join(own)}, "
            f"expected {','.join(classes)} (same classes in the same order)"
        )
    post = {}
    for utt, value in read_kv(path).items():
        p = np.array([float(x) for x in value.split()])
        if len(p) != len(own):
            raise SerError(f"{path}: utterance '{utt}' has {len(p)} posteriors, {CLASSES_FILE} names {len(own)}")
        post[utt] = p
    return post, own
