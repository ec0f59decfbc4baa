"""Late fusion of class posteriors: a weighted mean of several systems' utt2post on the same
utterances, optionally divided by the training class priors (the decision that maximises the
expected unweighted accuracy when posteriors carry the training set's class imbalance).
"""

from pathlib import Path

import numpy as np

from ser.data.datadir import read_kv
from ser.eval.posteriors import read_posteriors, write_posteriors
from ser.utils import SerError


def class_priors(data_dirs, classes) -> np.ndarray:
    """Relative class frequencies of the utt2emo files of `data_dirs`."""
    counts = np.zeros(len(classes))
    for d in data_dirs:
        path = Path(d) / "utt2emo"
        if not path.is_file():
            raise SerError(f"{path} not found (--prior-data takes data dirs with an utt2emo)")
        for utt, emo in read_kv(path).items():
            if emo not in classes:
                raise SerError(f"{path}: utterance '{utt}' has label '{emo}', not in --classes {','.join(classes)}")
            counts[classes.index(emo)] += 1
    if counts.sum() == 0:
        raise SerError(f"--prior-data {','.join(map(str, data_dirs))}: no labelled utterance")
    return counts / counts.sum()


def fuse(pred_dirs, classes, out_dir, weights=None, priors=None) -> dict:
    weights = np.ones(len(pred_dirs)) if weights is None else np.asarray(weights, dtype=float)
    if len(weights) != len(pred_dirs) or (weights < 0).any() or weights.sum() <= 0:
        raise SerError(f"--weights {list(weights)}: need {len(pred_dirs)} non-negative weights, not all 0")
    if classes is None:  # every system's classes.txt must then agree with the first's
        classes = read_posteriors(pred_dirs[0])[1]
    systems = [read_posteriors(d, classes)[0] for d in pred_dirs]
    for d, s in zip(pred_dirs[1:], systems[1:]):
        if set(s) != set(systems[0]):
            raise SerError(f"{d}/utt2post and {pred_dirs[0]}/utt2post cover different utterances")
    fused = {u: sum(w * s[u] for w, s in zip(weights, systems)) / weights.sum() for u in systems[0]}
    if priors is not None:
        # A class absent from training keeps its (zero) posterior rather than dividing by zero.
        scale = np.where(priors > 0, 1.0 / np.where(priors > 0, priors, 1.0), 1.0)
        fused = {u: p * scale / max((p * scale).sum(), 1e-12) for u, p in fused.items()}
    write_posteriors(out_dir, list(fused), list(fused.values()), classes)
    return fused
