"""Scoring: one fold's predictions against its references (emotion, V/A/D, and the auxiliary tasks
of multi-task models: gender accuracy, speaker-verification EER, CER), then folds into RESULTS.md.

Speakers whose id starts with `unknown_prefix` (MSP-Podcast's Unknown, see its data prep) are left
out of the verification trials; utterances of unknown gender out of the gender accuracy; utterances
whose normalised reference transcript is empty out of the CER.
"""

import json
from pathlib import Path

import numpy as np

from ser.data.datadir import DataDir, read_kv
from ser.eval.metrics import absent_classes, classification_scores, confusion, regression_scores
from ser.eval.plots import write_plots
from ser.eval.posteriors import CLASSES_FILE, read_classes
from ser.eval.verification import verification_eer
from ser.text.vocab import normalize_text
from ser.utils import SerError, get_logger, write_text_atomic

log = get_logger("scoring")

ORDER = ("ua", "wa", "macro_f1", "ccc_valence", "ccc_arousal", "ccc_dominance", "ccc_mean")
AUX_METRICS = {"gender_acc": "gender acc", "spk_eer": "speaker EER", "cer": "CER"}
NAMES = {
    "ua": "UA",
    "wa": "WA",
    "macro_f1": "macro-F1",
    "ccc_valence": "CCC-V",
    "ccc_arousal": "CCC-A",
    "ccc_dominance": "CCC-D",
    "ccc_mean": "CCC mean",
}


def _emotion_arrays(data: DataDir, pred_dir: Path, classes):
    """(classes, y_true, y_pred) of a fold's emotion predictions, or None when it has none."""
    emo_pred = pred_dir / "utt2emo_pred"
    if (pred_dir / CLASSES_FILE).is_file():
        own = read_classes(pred_dir)
        if classes is not None and sorted(classes) != sorted(own):
            raise SerError(
                f"{pred_dir / CLASSES_FILE}: classes {','.join(own)} differ from the scored ones {','.join(classes)}"
            )
        classes = classes or own
    if not (emo_pred.is_file() and data.has("utt2emo")):
        return None
    if classes is None:
        raise SerError(f"{pred_dir}: no {CLASSES_FILE} beside utt2emo_pred; give the classes to score")
    pred = read_kv(emo_pred)
    ref = data.get("utt2emo")
    if set(pred) != set(ref):
        raise SerError(f"{emo_pred}: utterances differ from {data.path}/utt2emo")
    idx = {c: i for i, c in enumerate(classes)}
    unknown = sorted({e for e in list(ref.values()) + list(pred.values()) if e not in idx})
    if unknown:
        raise SerError(f"{emo_pred} / {data.path}/utt2emo: labels {unknown} are not among the classes {list(classes)}")
    return list(classes), [idx[ref[u]] for u in data.utts], [idx[pred[u]] for u in data.utts]


def _vad_arrays(data: DataDir, pred_dir: Path):
    """(pred, target) V/A/D arrays of a fold, or None when it has none."""
    vad_pred = pred_dir / "utt2vad_pred"
    if not (vad_pred.is_file() and data.has("utt2vad")):
        return None
    pred = read_kv(vad_pred)
    ref = data.utt2vad()
    p = np.array([[float(x) for x in pred[u].split()] for u in data.utts])
    t = np.stack([ref[u] for u in data.utts])
    return p, t


def _emotion_scores(classes, y_true, y_pred, where) -> dict:
    scores = classification_scores(y_true, y_pred, len(classes))
    scores["confusion"] = confusion(y_true, y_pred, len(classes)).tolist()
    scores["classes"] = list(classes)
    absent = [classes[i] for i in absent_classes(y_true, len(classes))]
    if absent:
        scores["absent_classes"] = absent
        log.warning("%s: no reference utterance of %s; UA and macro-F1 count them as 0", where, absent)
    return scores


def score_fold(data_dir, pred_dir, classes=None, unknown_prefix="unk_", max_trials=100000) -> dict:
    """Scores every prediction file of pred_dir that has a reference in data_dir; writes
    pred_dir/scores.json. `classes` orders the confusion matrix; by default the predictions'
    classes.txt (posteriors), which must otherwise name the same classes."""
    data, pred_dir = DataDir.load(data_dir), Path(pred_dir)
    scores = {"num_utts": len(data)}
    emo = _emotion_arrays(data, pred_dir, classes)
    if emo is not None:
        scores.update(_emotion_scores(*emo, pred_dir))
    vad = _vad_arrays(data, pred_dir)
    if vad is not None:
        scores.update(regression_scores(*vad))
    scores.update(score_aux(data, pred_dir, unknown_prefix, max_trials))
    write_text_atomic(pred_dir / "scores.json", json.dumps(scores, indent=1))
    title = f"{pred_dir.parent.parent.name} {pred_dir.parent.name}"
    write_plots(pred_dir / "plots", title, scores.get("confusion"), scores.get("classes"), *(vad or (None, None)))
    return scores


def score_pooled(exp_dir, folds_root, folds, classes=None, pred_subdir="infer_test", data_subdir="test") -> dict:
    """Emotion and V/A/D scores of all the folds' test predictions together (one confusion, one
    CCC over every utterance): beside the mean over folds, it is not swayed by a small fold."""
    emo, vad, num = [], [], 0
    for k in folds:
        data = DataDir.load(Path(folds_root) / f"fold{k}" / data_subdir)
        pred_dir = Path(exp_dir) / f"fold{k}" / pred_subdir
        num += len(data)
        e = _emotion_arrays(data, pred_dir, classes)
        if e is not None:
            if emo and e[0] != emo[0][0]:
                raise SerError(f"{pred_dir}: classes {e[0]} differ from another fold's {emo[0][0]}")
            emo.append(e)
        v = _vad_arrays(data, pred_dir)
        if v is not None:
            vad.append(v)
    scores = {"num_utts": num}
    if emo:
        y_true = [y for e in emo for y in e[1]]
        y_pred = [y for e in emo for y in e[2]]
        scores.update(_emotion_scores(emo[0][0], y_true, y_pred, f"{exp_dir} (pooled)"))
    if vad and len(vad) == len(folds):
        scores.update(regression_scores(np.concatenate([p for p, _ in vad]), np.concatenate([t for _, t in vad])))
    return scores


def summarize(fold_scores: dict) -> dict:
    """{fold: scores} -> {metric: (mean, std)} over the folds that have the metric."""
    out = {}
    for m in ORDER:
        vals = [s[m] for s in fold_scores.values() if m in s]
        if vals:
            out[m] = (float(np.mean(vals)), float(np.std(vals)))
    return out


def results_table(systems: dict, percent=("ua", "wa", "macro_f1"), pooled: dict | None = None) -> str:
    """systems: {name: {fold: scores}} -> a markdown table with per-fold values, mean ± std, and
    the pooled scores of `pooled` ({name: scores}) when given."""
    metrics = [m for m in ORDER if any(m in s for f in systems.values() for s in f.values())]
    lines = []
    for name, folds in systems.items():
        summ = summarize(folds)
        lines.append(f"\n### {name}\n")
        lines.append("| fold | " + " | ".join(NAMES[m] for m in metrics) + " |")
        lines.append("|---" * (len(metrics) + 1) + "|")

        def fmt(m, v):
            return f"{100 * v:.2f}" if m in percent else f"{v:.4f}"

        for fold, s in folds.items():
            lines.append(f"| {fold} | " + " | ".join(fmt(m, s[m]) if m in s else "-" for m in metrics) + " |")
        lines.append(
            "| **mean ± std** | "
            + " | ".join(f"**{fmt(m, summ[m][0])}** ± {fmt(m, summ[m][1])}" if m in summ else "-" for m in metrics)
            + " |"
        )
        if pooled and name in pooled:
            p = pooled[name]
            lines.append("| pooled | " + " | ".join(fmt(m, p[m]) if m in p else "-" for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def summary_table(systems: dict, percent=("ua", "wa", "macro_f1"), pooled: dict | None = None) -> str:
    """One row per system with the fold means (or, given `pooled`, {name: scores}, the pooled
    scores): the comparison table of an ablation."""
    metrics = [m for m in ORDER if any(m in s for f in systems.values() for s in f.values())]
    lines = ["| system | folds | " + " | ".join(NAMES[m] for m in metrics) + " |", "|---" * (len(metrics) + 2) + "|"]
    for name, folds in systems.items():
        summ = {m: (v, 0.0) for m, v in pooled[name].items()} if pooled else summarize(folds)
        cells = [
            (f"{100 * summ[m][0]:.2f}" if m in percent else f"{summ[m][0]:.4f}") if m in summ else "-" for m in metrics
        ]
        lines.append(f"| {name} | {len(folds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def score_system(
    exp_dir, folds_root, folds, classes=None, pred_subdir="infer_test", data_subdir="test", **aux_opts
) -> dict:
    """{fold<k>: scores} of exactly the asked folds, each scored against the fold's `data_subdir`
    set (test) now: predictions of other folds left in the same exp dir stay out of the table."""
    scores = {}
    for k in folds:
        pred_dir = Path(exp_dir) / f"fold{k}" / pred_subdir
        if not pred_dir.is_dir():
            raise SerError(f"no predictions in {pred_dir}: run the stage that trains and predicts this system")
        s = score_fold(Path(folds_root) / f"fold{k}" / data_subdir, pred_dir, classes, **aux_opts)
        log.info("%s: %s", pred_dir, " ".join(f"{m}={v:.4f}" for m, v in s.items() if isinstance(v, float)))
        scores[f"fold{k}"] = s
    system_plots(exp_dir, folds_root, folds, scores, pred_subdir, data_subdir)
    return scores


def system_plots(exp_dir, folds_root, folds, scores: dict, pred_subdir: str, data_subdir: str = "test") -> None:
    """<exp_dir>/plots (plots_<set> for a set other than test): the confusion matrix summed over the
    scored folds, and V/A/D of them all."""
    matrices = [np.asarray(s["confusion"]) for s in scores.values() if "confusion" in s]
    classes = next((s["classes"] for s in scores.values() if "classes" in s), None)
    pairs = [
        _vad_arrays(DataDir.load(Path(folds_root) / f"fold{k}" / data_subdir), Path(exp_dir) / f"fold{k}" / pred_subdir)
        for k in folds
    ]
    title = f"{Path(exp_dir).name}{'' if data_subdir == 'test' else ' (' + data_subdir + ')'}"
    pairs = [pt for pt in pairs if pt is not None]
    title += f", fold{'s' if len(folds) > 1 else ''} {' '.join(map(str, folds))}"
    write_plots(
        Path(exp_dir) / ("plots" if data_subdir == "test" else f"plots_{data_subdir}"),
        title,
        sum(matrices) if matrices and all(m.shape == matrices[0].shape for m in matrices) else None,
        classes,
        np.concatenate([p for p, _ in pairs]) if pairs else None,
        np.concatenate([t for _, t in pairs]) if pairs else None,
    )


def write_results(
    out, systems: dict, title="Results", note="", command="", pooled: dict | None = None, extra_sets=None
) -> None:
    """RESULTS.md: the command that made it, a row per system (fold means; and with `pooled`,
    {name: scores}, the pooled scores), then every fold; with auxiliary-task scores, their table
    and each system's confusion matrix summed over folds. `extra_sets`, {set: (systems, pooled)}:
    other fold subsets scored (e.g. MSP-Podcast's Development beside its test set), one section each."""
    text = [f"# {title}\n"]
    if note:
        text.append(note + "\n")
    if command:
        text.append(f"Produced by:\n\n```\n{command}\n```\n")
    text += ["## Summary (mean over folds)\n", summary_table(systems)]
    if pooled:
        text += [
            "\n## Summary (pooled: all folds' test predictions scored together)\n",
            summary_table(systems, pooled=pooled),
        ]
    text += [
        "\nUA and macro-F1 average over the configured classes; a class absent from a fold's test set "
        "counts 0 in both (none is absent from the pooled set).\n",
        "\n## Per fold\n",
        results_table(systems, pooled=pooled),
    ]
    for name, (set_systems, set_pooled) in (extra_sets or {}).items():
        text += [
            f"\n## The {name} set (mean over folds)\n",
            summary_table(set_systems),
            f"\n## The {name} set (pooled)\n",
            summary_table(set_systems, pooled=set_pooled),
        ]
    if any(m in s for f in systems.values() for s in f.values() for m in AUX_METRICS):
        text[-1] = text[-1].rstrip("\n") + "\n"
        text.append(
            "## Auxiliary tasks (mean over folds, %)\n\n"
            "Gender accuracy over utterances of known gender; speaker EER of cosine-scored embeddings on "
            "pairs of test utterances of known speakers, non-target pairs of one gender only where genders are "
            "known (`trials` in each fold's prediction dir; a fold without two speakers of one gender has no EER); "
            "CER of greedy CTC decoding against the normalised transcripts.\n\n"
            + aux_table(systems)
            + "\n## Confusion matrices (test utterances, summed over folds)\n"
            + confusion_tables(systems)
        )
    write_text_atomic(out, "\n".join(text))


def _read_pred(path: Path, utts: list) -> dict:
    pred = read_kv(path, allow_empty_value=True)
    missing = [u for u in utts if u not in pred]
    if missing:
        raise SerError(f"{path}: no prediction for {len(missing)} utterances, e.g. {missing[:3]}")
    return pred


def score_aux(data: DataDir, pred_dir: Path, unknown_prefix: str, max_trials: int) -> dict:
    scores = {}
    if (pred_dir / "utt2gender_pred").is_file() and data.has("utt2gender"):
        ref = data.get("utt2gender")
        known = [u for u in data.utts if ref[u] in ("m", "f")]
        pred = _read_pred(pred_dir / "utt2gender_pred", known)
        if known:
            scores["gender_acc"] = float(np.mean([pred[u] == ref[u] for u in known]))
            scores["num_gender_utts"] = len(known)
    if (pred_dir / "text_pred").is_file() and data.has("text"):
        from ser.text.cer import char_errors  # imports torch(audio): only when there is a CER to compute

        ref = data.get("text")
        usable = [u for u in data.utts if normalize_text(ref[u])]
        pred = _read_pred(pred_dir / "text_pred", usable)
        edits = chars = 0
        for u in usable:
            e, n = char_errors(ref[u], pred[u])
            edits, chars = edits + e, chars + n
        if chars:
            scores["cer"] = edits / chars
            scores["num_cer_utts"] = len(usable)
    emb_file = pred_dir / "spk_embed.npz"
    if emb_file.is_file():
        with np.load(emb_file) as z:
            emb = dict(zip(z["utts"].tolist(), z["embed"]))
        genders = data.get("utt2gender") if data.has("utt2gender") else None
        ver = verification_eer(
            emb, data.utt2spk, unknown_prefix, max_trials, trials_out=pred_dir / "trials", utt2gender=genders
        )
        ver["spk_trials"] = "same-gender non-targets" if genders is not None else "all non-targets"
        if ver["spk_eer"] is None:
            log.warning(
                "%s: speaker EER not computed: the test set has %d target and %d non-target trials (%s)",
                pred_dir,
                ver["num_target_trials"],
                ver["num_nontarget_trials"],
                ver["spk_trials"],
            )
        scores.update({k: v for k, v in ver.items() if v is not None})
    return scores


def aux_table(systems: dict) -> str:
    metrics = [m for m in AUX_METRICS if any(m in s for f in systems.values() for s in f.values())]
    if not metrics:
        return "No auxiliary-task outputs were scored.\n"
    lines = [
        "| system | folds | " + " | ".join(AUX_METRICS[m] for m in metrics) + " |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    for name, folds in systems.items():
        cells = []
        for m in metrics:
            vals = [s[m] for s in folds.values() if m in s]
            cells.append(f"{100 * np.mean(vals):.2f}" if vals else "-")
        lines.append(f"| {name} | {len(folds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def confusion_tables(systems: dict) -> str:
    out = []
    for name, folds in systems.items():
        mats = [np.array(s["confusion"]) for s in folds.values() if "confusion" in s]
        if not mats:
            continue
        classes = next(s["classes"] for s in folds.values() if "classes" in s)
        total = sum(mats)
        out.append(f"\n### {name}\n")
        out.append("| reference \\ predicted | " + " | ".join(classes) + " |")
        out.append("|---" * (len(classes) + 1) + "|")
        for c, row in zip(classes, total):
            out.append(f"| {c} | " + " | ".join(str(int(x)) for x in row) + " |")
    return "\n".join(out) + "\n"
