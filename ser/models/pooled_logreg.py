"""A logistic regression on utterance-level features: functionals (one row per utterance, e.g.
openSMILE ComParE) or the mean and standard deviation over frames of chosen layers of an upstream
dump (frozen Whisper, HuBERT, ...). `model: {name: logreg, ...}` in a train config; trained by
`ser.bin.train` like every model, but in closed form (no epochs): the experiment layer calls `fit`
instead of the trainer, and `predict` at inference.

Training rows are the fold's training speakers and its validation speakers: validation actors are
training actors of the fold, and a linear model needs no early stopping. Features are standardised
with training statistics only; C is chosen by an inner cross-validation grouped by speaker
(unweighted accuracy, i.e. balanced accuracy), then the model is refit on every training row.
`speed_copies: [0.9, 1.1]` also trains on the speed-perturbed copies (rows `sp0.9-<utt>` of the
same store, made by `ser.bin.speed_perturb_dir` and dumped into it): a perturbed voice is another
voice, which a linear model on 20 actors lacks; each copy stays in its original speaker's CV group,
so no held-out actor is seen through a copy. `speaker_norm: true` instead z-normalises each
speaker's rows over that speaker's own utterances, the predicted speakers included: it uses the test
speakers' unlabelled audio, so its results are their own row, never the main system.

The fitted model is stored as arrays (scaler mean and scale, coefficients, intercepts) in
`model.best.pt`, loaded with `weights_only=True` and applied with numpy: nothing is unpickled.
"""

import json
from pathlib import Path

import numpy as np
import torch

from ser.data.datadir import DataDir
from ser.data.speed_perturb_dir import speed_tag
from ser.features.store import FeatReader
from ser.utils import SerError, atomic_path, get_logger, write_text_atomic

log = get_logger("pooled_logreg")
DEFAULT_CS = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)


class PooledView:
    """Utterance rows from a frame-level upstream dump: the mean and standard deviation over frames
    of each chosen layer, side by side, so a linear model can read any layer of a dump directly."""

    def __init__(self, reader: FeatReader, layers: list[int]):
        from ser.cluster.frames import LayerView

        self.views = [LayerView(reader, layer) for layer in layers]
        self.scp = reader.scp
        self._reader = reader

    def __contains__(self, utt: str) -> bool:
        return utt in self._reader

    def __getitem__(self, utt: str) -> np.ndarray:
        whole = self._reader[utt]  # read once, whatever the number of layers pooled
        parts = []
        for view in self.views:
            x = view.pick(whole, utt).astype(np.float64)
            parts += [x.mean(0), x.std(0)]
        return np.concatenate(parts)


def speaker_znorm(x: np.ndarray, speakers) -> np.ndarray:
    """Each speaker's rows minus that speaker's mean, over that speaker's standard deviation."""
    x = x.copy()
    speakers = np.asarray(speakers)
    for s in np.unique(speakers):
        rows = speakers == s
        x[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-8)
    return x


def make_pipeline_for(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))


def choose_c(cs, x, y, groups, folds: int = 5) -> tuple:
    """Inner CV grouped by speaker; returns (best C, {C: mean balanced accuracy})."""
    from sklearn.model_selection import GroupKFold

    from ser.eval.metrics import ua

    n_groups = len(set(groups))
    if n_groups < 2:
        raise SerError(f"choosing C needs at least 2 training speakers, got {n_groups}")
    splits = list(GroupKFold(n_splits=min(folds, n_groups)).split(x, y, groups))
    scores = {}
    for c in cs:
        accs = [ua(y[te], make_pipeline_for(c).fit(x[tr], y[tr]).predict(x[te])) for tr, te in splits]
        scores[c] = float(np.mean(accs))
        log.info("C=%g: inner-CV UA %.4f", c, scores[c])
    return max(cs, key=lambda c: (scores[c], -c)), scores  # ties: the stronger regularisation


def softmax_posteriors(arrays: dict, x: np.ndarray) -> np.ndarray:
    """(N, classes) posteriors of the stored scaler + logistic regression, as scikit-learn computes them."""
    z = (x - arrays["mean"]) / arrays["scale"]
    logits = z @ arrays["coef"].T + arrays["intercept"]
    if logits.shape[1] == 1:  # two classes: one logit, the second class's
        p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        post = np.stack([1 - p1, p1], 1)
    else:
        logits = logits - logits.max(1, keepdims=True)
        post = np.exp(logits)
        post /= post.sum(1, keepdims=True)
    full = np.zeros((len(x), int(arrays["num_classes"])))
    full[:, arrays["seen_classes"].astype(int)] = post  # a class absent from training keeps 0
    return full


class PooledLogReg:
    """Config keys (model.*): pool_layers, cs, speaker_norm, speed_copies, inner_folds."""

    fits_in_closed_form = True  # ser.train.experiment trains it with `fit`, not the epoch trainer

    def __init__(
        self,
        info: dict,
        pool_layers: list | None = None,
        cs: list | None = None,
        speaker_norm: bool = False,
        speed_copies: list | None = None,
        inner_folds: int = 5,
    ):
        self.classes = list(info["classes"])
        self.pool_layers = [int(x) for x in pool_layers] if pool_layers else []
        self.cs = [float(c) for c in (cs or DEFAULT_CS)]
        self.speaker_norm = bool(speaker_norm)
        try:
            self.speed_copies = [float(f) for f in speed_copies or []]
        except (TypeError, ValueError):
            raise SerError(f"model.speed_copies {speed_copies!r} must be a list of numbers") from None
        self.inner_folds = int(inner_folds)

    def rows(self, stores: dict):
        if len(stores) != 1:
            raise SerError(f"model logreg reads one feature store (data.feats), got {sorted(stores)}")
        reader = next(iter(stores.values()))
        return PooledView(reader, self.pool_layers) if self.pool_layers else reader

    def load_split(self, reader, data: DataDir, labelled: bool = True, utts=None):
        utts = list(utts if utts is not None else data.utts)
        x = np.stack([reader[u].reshape(-1) for u in utts]).astype(np.float64)
        y = None
        if labelled:
            emo = data.get("utt2emo")
            unknown = sorted({emo[u] for u in utts} - set(self.classes))
            if unknown:
                raise SerError(
                    f"{data.path}/utt2emo: labels {unknown} are not in the config's classes {','.join(self.classes)}"
                )
            y = np.array([self.classes.index(emo[u]) for u in utts])
        return utts, x, y, [data.utt2spk[u] for u in utts]

    def speed_copy_rows(self, reader, utts, y, speakers):
        """Rows of the speed-perturbed copies of `utts`, with their labels, their original speakers
        (the inner-CV groups) and each copy's own voice (`sp0.9-<spk>`, for per-speaker norms)."""
        factors = self.speed_copies
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

    def fit(self, train_dir, valid_dir, stores: dict, exp_dir, seed: int = 0) -> dict:
        """Chooses C, fits, writes <exp_dir>/model.best.pt and search.json; returns the search."""
        reader = self.rows(stores)
        train, valid = DataDir.load(train_dir), DataDir.load(valid_dir)
        # The validation speakers are training speakers of the fold: joined (once, when the
        # training set already holds them).
        parts = [self.load_split(reader, train)]
        extra = [u for u in valid.utts if u not in set(train.utts)]
        if extra:
            parts.append(self.load_split(reader, valid, utts=extra))
        x = np.concatenate([p[1] for p in parts])
        y = np.concatenate([p[2] for p in parts])
        groups = sum((p[3] for p in parts), [])
        voices, n_orig = list(groups), len(y)
        if self.speed_copies:
            cx, cy, cgroups, cvoices = self.speed_copy_rows(reader, sum((p[0] for p in parts), []), y, groups)
            x, y, groups, voices = np.concatenate([x, cx]), np.concatenate([y, cy]), groups + cgroups, voices + cvoices
        if self.speaker_norm:
            x = speaker_znorm(x, voices)
        log.info(
            "logistic regression on %d training utterances of %d speakers (%d dims; %d speed-perturbed "
            "copies); C grid %s",
            n_orig,
            len(set(groups)),
            x.shape[1],
            len(y) - n_orig,
            self.cs,
        )
        best, scores = choose_c(self.cs, x, y, groups, self.inner_folds)
        pipe = make_pipeline_for(best).fit(x, y)
        scaler, lr = pipe[0], pipe[-1]
        arrays = {
            "mean": scaler.mean_,
            "scale": scaler.scale_,
            "coef": lr.coef_,
            "intercept": lr.intercept_,
            "seen_classes": lr.classes_.astype(np.float64),
            "num_classes": np.array(float(len(self.classes))),
        }
        exp = Path(exp_dir)
        with atomic_path(exp / "model.best.pt") as tmp:
            torch.save({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}, tmp)
        search = {
            "chosen_c": best,
            "inner_cv_ua": scores,
            "speaker_norm": self.speaker_norm,
            "speed_copies": self.speed_copies,
            "pool_layers": self.pool_layers,
            "train_utts": n_orig,
            "train_rows": len(y),
            "train_speakers": sorted(set(groups)),
        }
        write_text_atomic(exp / "search.json", json.dumps(search, indent=1))
        log.info("C=%g chosen; model in %s", best, exp / "model.best.pt")
        return search

    def predict(self, exp_dir, data_dir, stores: dict, train_speakers=()) -> tuple:
        """-> (utts, (N, classes) posteriors) of data_dir with exp_dir's fitted model."""
        path = Path(exp_dir) / "model.best.pt"
        try:
            arrays = {k: v.numpy() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise SerError(f"{path}: not a fitted logistic regression ({e})") from None
        data = DataDir.load(data_dir)
        utts, x, _, spk = self.load_split(self.rows(stores), data, labelled=False)
        leaked = set(train_speakers) & set(spk)
        if leaked:
            raise SerError(f"{data_dir}: speakers {sorted(leaked)} are also training speakers: not speaker independent")
        if self.speaker_norm:
            x = speaker_znorm(x, spk)
        return utts, softmax_posteriors(arrays, x)
