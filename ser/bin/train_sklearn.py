"""Utterance-level features (e.g. openSMILE functionals, one row per utterance) -> a scikit-learn
classifier, trained on one fold and used to predict its test set.

  python -m ser.bin.train_sklearn --feats dump/compare/feats.scp --classes neu,cal,... \
      --train-dir data/folds/emobox/fold1/train --valid-dir data/folds/emobox/fold1/valid \
      --test-dir data/folds/emobox/fold1/test --exp-dir exp/compare_logreg/fold1 [--classifier logreg]

The valid actors are training actors of the fold, so they join the training set: a linear model
needs no early stopping. C is chosen by an inner cross-validation grouped by speaker over those
training speakers (unweighted accuracy, i.e. balanced accuracy), then the model is refit on all of
them. Features are standardised with training statistics only. `--speed-copies 0.9,1.1` also
trains on the speed-perturbed copies of every training utterance (`sp0.9-<utt>`, made by
`ser.bin.speed_perturb_dir` and dumped into the same --feats store): a perturbed voice is another
voice, which a linear model on 20 actors lacks; the inner CV keeps every copy in its original
speaker's group, so no held-out actor is seen through a copy. `--speaker-norm` instead z-normalises
every speaker's rows over that speaker's own utterances, test speakers included: it uses the test
speakers' unlabelled audio, so its results are reported as their own row, never as the main system.

Writes <exp-dir>/model.pkl, search.json (the inner-CV scores), and <exp-dir>/infer_test/{utt2post,
utt2emo_pred,classes.txt} in the layout of `ser.bin.infer`, so `ser.bin.score` and `ser.bin.fuse_posteriors` apply.
"""

import argparse
import json
import pickle
from pathlib import Path

import numpy as np

from ser.data.datadir import DataDir
from ser.data.speed_perturb_dir import speed_tag
from ser.eval.posteriors import write_posteriors
from ser.features.store import FeatReader
from ser.utils import SerError, atomic_path, get_logger, run_main

log = get_logger("train_sklearn")
DEFAULT_CS = {"logreg": "1e-4,1e-3,3e-3,1e-2,3e-2,0.1", "linear_svm": "1e-5,1e-4,1e-3,1e-2", "rbf_svm": "0.1,1,10,100"}


class PooledView:
    """Utterance rows from a frame-level upstream dump: the mean and standard deviation over frames
    of each chosen layer, side by side, so a linear model can read any layer of a dump directly."""

    def __init__(self, reader: FeatReader, layers: list[int]):
        from ser.cluster.frames import LayerView

        self.views = [LayerView(reader, layer) for layer in layers]
        self.scp = reader.scp
        self._reader = reader

    def __contains__(self, utt):
        return utt in self._reader

    def __getitem__(self, utt) -> np.ndarray:
        whole = self._reader[utt]  # read once, whatever the number of layers pooled
        parts = []
        for view in self.views:
            x = view.pick(whole, utt).astype(np.float64)
            parts += [x.mean(0), x.std(0)]
        return np.concatenate(parts)


def load_split(reader, data: DataDir, classes, labelled=True):
    utts = data.utts
    x = np.stack([reader[u].reshape(-1) for u in utts]).astype(np.float64)
    emo = data.get("utt2emo")
    unknown = sorted({emo[u] for u in utts} - set(classes)) if labelled else []
    if unknown:
        raise SerError(f"{data.path}/utt2emo: labels {unknown} are not in --classes {','.join(classes)}")
    y = np.array([classes.index(emo[u]) for u in utts]) if labelled else None
    return utts, x, y, [data.utt2spk[u] for u in utts]


def speed_copy_rows(reader: FeatReader, utts, y, speakers, factors):
    """Rows of the speed-perturbed copies of `utts`, with their labels, their original speakers (the
    inner-CV groups) and each copy's own voice (`sp0.9-<spk>`, for per-speaker normalisation)."""
    names = [f"{speed_tag(f)}-{u}" for f in factors for u in utts]
    missing = [n for n in names if n not in reader]
    if missing:
        raise SerError(
            f"{reader.scp}: {len(missing)} speed-perturbed copies have no row (e.g. {missing[0]}); "
            "dump the features of the ser.bin.speed_perturb_dir output into this store"
        )
    x = np.stack([reader[n].reshape(-1) for n in names]).astype(np.float64)
    voices = [f"{speed_tag(f)}-{s}" for f in factors for s in speakers]
    return x, np.tile(y, len(factors)), list(speakers) * len(factors), voices


def speaker_znorm(x, speakers):
    """Each speaker's rows minus that speaker's mean, over that speaker's standard deviation."""
    x = x.copy()
    speakers = np.asarray(speakers)
    for s in np.unique(speakers):
        rows = speakers == s
        x[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-8)
    return x


def make_classifier(name: str, c: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "logreg":
        clf = LogisticRegression(C=c, max_iter=3000)
    elif name in ("linear_svm", "rbf_svm"):
        clf = SVC(C=c, kernel="linear" if name == "linear_svm" else "rbf", probability=True, random_state=seed)
    else:
        raise SerError(f"unknown --classifier '{name}' (known: {', '.join(DEFAULT_CS)})")
    return make_pipeline(StandardScaler(), clf)


def choose_c(name, cs, x, y, groups, seed, folds=5):
    """Inner CV grouped by speaker; returns (best C, {C: mean balanced accuracy})."""
    from sklearn.model_selection import GroupKFold

    from ser.eval.metrics import ua

    n_groups = len(set(groups))
    if n_groups < 2:
        raise SerError(f"choosing C needs at least 2 training speakers, got {n_groups}")
    splits = list(GroupKFold(n_splits=min(folds, n_groups)).split(x, y, groups))
    scores = {}
    for c in cs:
        accs = []
        for tr, te in splits:
            model = make_classifier(name, c, seed).fit(x[tr], y[tr])
            accs.append(ua(y[te], model.predict(x[te])))
        scores[c] = float(np.mean(accs))
        log.info("C=%g: inner-CV UA %.4f", c, scores[c])
    return max(cs, key=lambda c: (scores[c], -c)), scores  # ties: the stronger regularisation


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feats", required=True, help="scp of one row per utterance")
    ap.add_argument("--classes", required=True)
    ap.add_argument("--train-dir", required=True)
    ap.add_argument("--valid-dir", default=None, help="more training speakers (joined to the training set)")
    ap.add_argument("--test-dir", required=True)
    ap.add_argument("--exp-dir", required=True)
    ap.add_argument("--classifier", default="logreg", choices=sorted(DEFAULT_CS))
    ap.add_argument("--cs", default=None, help="comma-separated C grid (default depends on --classifier)")
    ap.add_argument(
        "--speed-copies",
        default="",
        help="comma-separated speed factors, e.g. 0.9,1.1: also train on "
        "these copies of every training utterance (rows sp<f>-<utt> of --feats)",
    )
    ap.add_argument("--speaker-norm", action="store_true", help="z-normalise per speaker (uses test speakers' audio)")
    ap.add_argument(
        "--pool-layers",
        default="",
        help="comma-separated layers of a frame-level upstream dump: "
        "the rows are then each layer's mean and std over frames (e.g. 3, or 2,3,4; negative from the top)",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    classes = args.classes.split(",")
    cs = [float(c) for c in (args.cs or DEFAULT_CS[args.classifier]).split(",")]
    try:
        factors = [float(f) for f in args.speed_copies.split(",") if f.strip()]
    except ValueError:
        raise SerError(f"--speed-copies '{args.speed_copies}' must be comma-separated numbers") from None
    reader = FeatReader(args.feats)
    if args.pool_layers:
        reader = PooledView(reader, [int(x) for x in args.pool_layers.split(",")])
    parts = [load_split(reader, DataDir.load(d), classes) for d in filter(None, [args.train_dir, args.valid_dir])]
    x = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    groups = sum((p[3] for p in parts), [])
    voices = list(groups)
    n_orig = len(y)
    if factors:
        cx, cy, cgroups, cvoices = speed_copy_rows(reader, sum((p[0] for p in parts), []), y, groups, factors)
        x, y, groups, voices = np.concatenate([x, cx]), np.concatenate([y, cy]), groups + cgroups, voices + cvoices
    test_utts, x_test, _, test_spk = load_split(reader, DataDir.load(args.test_dir), classes, labelled=False)
    leaked = set(groups) & set(test_spk)
    if leaked:
        raise SerError(f"test speakers {sorted(leaked)} are also training speakers: not speaker independent")
    if args.speaker_norm:
        x, x_test = speaker_znorm(x, voices), speaker_znorm(x_test, test_spk)
    log.info(
        "%s on %d training utterances of %d speakers (%d dims; %d speed-perturbed copies); C grid %s",
        args.classifier,
        n_orig,
        len(set(groups)),
        x.shape[1],
        len(y) - n_orig,
        cs,
    )
    best, scores = choose_c(args.classifier, cs, x, y, groups, args.seed)
    model = make_classifier(args.classifier, best, args.seed).fit(x, y)
    post = np.zeros((len(test_utts), len(classes)))
    post[:, model.classes_] = model.predict_proba(x_test)  # a class absent from training keeps 0

    exp = Path(args.exp_dir)
    out = exp / "infer_test"
    write_posteriors(out, test_utts, post, classes)
    with atomic_path(exp / "model.pkl") as tmp, open(tmp, "wb") as f:
        pickle.dump({"model": model, "classes": classes, "speaker_norm": args.speaker_norm}, f)
    with atomic_path(exp / "search.json") as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "classifier": args.classifier,
                    "chosen_c": best,
                    "inner_cv_ua": scores,
                    "speaker_norm": args.speaker_norm,
                    "speed_copies": factors,
                    "pool_layers": args.pool_layers,
                    "train_utts": n_orig,
                    "train_rows": len(y),
                    "train_speakers": sorted(set(groups)),
                },
                indent=1,
            )
        )
    log.info("C=%g chosen; test predictions in %s", best, out)


if __name__ == "__main__":
    run_main(main)
