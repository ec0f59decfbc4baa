"""Selection on validation data: for each fold, the candidate system (e.g. joint_mtl's fixed-lambda
sweep) whose trained model scored best on the fold's validation set; its test predictions become
that fold's predictions of the selected system. Picking the best of several systems by their test
scores would be selection on test data.

Each candidate fold holds history.json (validation scores per epoch) and config.yaml (the metric
it selected its epoch on, train.select_metric); the candidates must share that metric, and a
candidate's validation value is the one of its selected epoch (its best).
"""

import json
import shutil
from pathlib import Path

from ser.config import parse_yaml
from ser.utils import SerError, get_logger, write_text_atomic

log = get_logger("select")


def best_valid(fold_dir: Path) -> tuple[str, float]:
    """(metric, value of the selected epoch) of one trained fold."""
    conf_file, hist_file = fold_dir / "config.yaml", fold_dir / "history.json"
    for f in (conf_file, hist_file):
        if not f.is_file():
            raise SerError(f"{f} not found: train this candidate's fold first (stage 2)")
    metric = parse_yaml(conf_file.read_text())["train"]["select_metric"]
    if metric == "last":
        raise SerError(f"{conf_file}: train.select_metric is 'last': no validation score to select on")
    values = [h["valid"][metric] for h in json.loads(hist_file.read_text()) if metric in h.get("valid", {})]
    if not values:
        raise SerError(f"{hist_file}: no validation '{metric}' in any epoch")
    return metric, (min(values) if metric == "loss" else max(values))


def select_on_valid(candidates: dict, folds, out_dir, pred_subdir: str = "infer_test") -> dict:
    """candidates: {name: exp dir}. For each fold, copies the best candidate's `pred_subdir` into
    out_dir/fold<k>/ and writes out_dir/fold<k>/selected.json. Returns {fold<k>: chosen name}."""
    if len(candidates) < 2:
        raise SerError(f"selection on validation needs two or more candidate systems, got {list(candidates)}")
    chosen = {}
    for k in folds:
        scores, metrics = {}, set()
        for name, exp in candidates.items():
            metric, value = best_valid(Path(exp) / f"fold{k}")
            scores[name] = value
            metrics.add(metric)
        if len(metrics) > 1:
            raise SerError(f"fold {k}: the candidates select on different metrics {sorted(metrics)}; give them one")
        metric = metrics.pop()
        pick = (min if metric == "loss" else max)(scores, key=scores.get)  # ties: the first listed
        src = Path(candidates[pick]) / f"fold{k}" / pred_subdir
        if not src.is_dir():
            raise SerError(f"{src} not found: predict the test set of {pick} first (stage 3)")
        dst = Path(out_dir) / f"fold{k}"
        dst.mkdir(parents=True, exist_ok=True)
        tmp = dst / f".{pred_subdir}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        shutil.rmtree(dst / pred_subdir, ignore_errors=True)
        tmp.rename(dst / pred_subdir)
        record = {"metric": metric, "selected": pick, "valid": scores, "from": str(candidates[pick])}
        write_text_atomic(dst / "selected.json", json.dumps(record, indent=1))
        log.info(
            "fold %s: %s (validation %s %.4f) of %s",
            k,
            pick,
            metric,
            scores[pick],
            ", ".join(f"{n} {v:.4f}" for n, v in scores.items()),
        )
        chosen[f"fold{k}"] = pick
    return chosen
