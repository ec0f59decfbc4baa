"""Scoring: one fold's predictions against its references, then folds into RESULTS.md tables."""

import json
from pathlib import Path

import numpy as np

from ser.data.datadir import DataDir, read_kv
from ser.train.metrics import classification_scores, confusion, regression_scores
from ser.utils import SerError, write_text_atomic

ORDER = ("ua", "wa", "macro_f1", "ccc_valence", "ccc_arousal", "ccc_dominance", "ccc_mean")
NAMES = {"ua": "UA", "wa": "WA", "macro_f1": "macro-F1", "ccc_valence": "CCC-V", "ccc_arousal": "CCC-A",
         "ccc_dominance": "CCC-D", "ccc_mean": "CCC mean"}


def score_fold(data_dir, pred_dir, classes) -> dict:
    """Reads pred_dir/utt2emo_pred and/or utt2vad_pred; writes pred_dir/scores.json."""
    data, pred_dir = DataDir.load(data_dir), Path(pred_dir)
    scores = {"num_utts": len(data)}
    emo_pred = pred_dir / "utt2emo_pred"
    if emo_pred.is_file() and data.has("utt2emo"):
        pred = read_kv(emo_pred)
        ref = data.get("utt2emo")
        if set(pred) != set(ref):
            raise SerError(f"{emo_pred}: utterances differ from {data.path}/utt2emo")
        idx = {c: i for i, c in enumerate(classes)}
        y_true = [idx[ref[u]] for u in data.utts]
        y_pred = [idx[pred[u]] for u in data.utts]
        scores.update(classification_scores(y_true, y_pred, len(classes)))
        scores["confusion"] = confusion(y_true, y_pred, len(classes)).tolist()
        scores["classes"] = list(classes)
    vad_pred = pred_dir / "utt2vad_pred"
    if vad_pred.is_file() and data.has("utt2vad"):
        pred = read_kv(vad_pred)
        ref = data.utt2vad()
        p = np.array([[float(x) for x in pred[u].split()] for u in data.utts])
        t = np.stack([ref[u] for u in data.utts])
        scores.update(regression_scores(p, t))
    write_text_atomic(pred_dir / "scores.json", json.dumps(scores, indent=1))
    return scores


def summarize(fold_scores: dict) -> dict:
    """{fold: scores} -> {metric: (mean, std)} over the folds that have the metric."""
    out = {}
    for m in ORDER:
        vals = [s[m] for s in fold_scores.values() if m in s]
        if vals:
            out[m] = (float(np.mean(vals)), float(np.std(vals)))
    return out


def results_table(systems: dict, percent=("ua", "wa", "macro_f1")) -> str:
    """systems: {name: {fold: scores}} -> a markdown table with per-fold values and mean ± std."""
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
        lines.append("| **mean ± std** | " + " | ".join(
            f"**{fmt(m, summ[m][0])}** ± {fmt(m, summ[m][1])}" if m in summ else "-" for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def summary_table(systems: dict, percent=("ua", "wa", "macro_f1")) -> str:
    """One row per system with the fold means: the comparison table of an ablation."""
    metrics = [m for m in ORDER if any(m in s for f in systems.values() for s in f.values())]
    lines = ["| system | folds | " + " | ".join(NAMES[m] for m in metrics) + " |",
             "|---" * (len(metrics) + 2) + "|"]
    for name, folds in systems.items():
        summ = summarize(folds)
        cells = [(f"{100 * summ[m][0]:.2f}" if m in percent else f"{summ[m][0]:.4f}") if m in summ else "-"
                 for m in metrics]
        lines.append(f"| {name} | {len(folds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def collect(exp_dir, pred_subdir="infer_test") -> dict:
    """{fold<k>: scores} from exp_dir/fold<k>/<pred_subdir>/scores.json."""
    exp_dir = Path(exp_dir)
    folds = {}
    for f in sorted(exp_dir.glob(f"fold*/{pred_subdir}/scores.json"), key=lambda p: int(p.parts[-3][4:])):
        folds[f.parts[-3]] = json.loads(f.read_text())
    if not folds:
        raise SerError(f"no scored folds under {exp_dir}/fold*/{pred_subdir}: run the scoring stage first")
    return folds
