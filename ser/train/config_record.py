"""An experiment dir's config.yaml describes the model in it. A run that would resume (or report
"already finished") in a dir trained with another config is refused before config.yaml is
rewritten: otherwise the file stops describing the model, and a changed model size makes the
intact model unloadable."""

import shutil
from pathlib import Path

import yaml

from ser.config import parse_yaml
from ser.utils import SerError, get_logger

log = get_logger("experiment")
FRESH_FLAG = "--no-resume"


def flatten(conf, prefix: str = "") -> dict:
    """{"train": {"lr": 1}} -> {"train.lr": 1}."""
    if not isinstance(conf, dict):
        return {prefix: conf}
    out = {}
    for key, value in conf.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def config_diff(old: dict, new: dict) -> list[str]:
    """`key: old -> new` for every dotted key whose value differs (new configs as written to disk)."""
    a, b = flatten(old), flatten(parse_yaml(yaml.safe_dump(new, sort_keys=False)))
    missing = object()
    return [
        f"{k}: {a.get(k, '(unset)')} -> {b.get(k, '(unset)')}"
        for k in sorted(set(a) | set(b))
        if a.get(k, missing) != b.get(k, missing)
    ]


def check_resumable(exp_dir, conf: dict, trained: bool) -> None:
    """Raises when exp_dir holds a model (`trained`: a checkpoint or model.best.pt that this run
    would resume or keep) made with a config other than `conf`, listing the differing keys."""
    recorded = Path(exp_dir) / "config.yaml"
    if not trained or not recorded.is_file():
        return
    diff = config_diff(parse_yaml(recorded.read_text()) or {}, conf)
    if diff:
        shown = "; ".join(diff[:12]) + (f"; ... ({len(diff)} keys)" if len(diff) > 12 else "")
        raise SerError(
            f"{exp_dir} holds a model trained with another config ({recorded}): {shown}. Resuming it would "
            f"mix both configs and calling it finished would mislabel it; train it from the start with "
            f"{FRESH_FLAG} (scripts/train_folds.sh and ser.sh do so when their inputs changed), or give "
            "another experiment dir"
        )


def will_resume(exp_dir, resume: bool, restart_finished: bool) -> bool:
    """Whether training continues a checkpoint of exp_dir: asked (`resume`), one exists, and it is
    not a finished run that `restart_finished` starts over."""
    from ser.train.checkpoint import load_checkpoint

    last = Path(exp_dir) / "checkpoint.last.pt"
    ckpt = load_checkpoint(last) if resume else None
    if ckpt is None:
        return False
    if restart_finished and ckpt["state"]["done"]:
        log.info("%s: its last run finished; training again from the start as asked", exp_dir)
        return False
    return True


def clear_model(exp_dir) -> None:
    """A fresh run's dir: no model, checkpoint or history of an earlier config stays beside the new
    config.yaml, should this run stop before its first epoch. The earlier model (with the config and
    history that describe it) moves to previous/, replacing an older one: a retrain started by
    mistake (an input wrongly seen as changed) must not destroy the only trained copy."""
    exp = Path(exp_dir)
    if (exp / "model.best.pt").is_file():
        prev = exp / "previous"
        shutil.rmtree(prev, ignore_errors=True)
        prev.mkdir()
        for name in ("model.best.pt", "config.yaml", "info.json", "history.json"):
            if (exp / name).is_file():
                (exp / name).rename(prev / name)
        log.info("%s: the model it held moved to %s (delete it to free the space)", exp, prev)
    for name in ("model.best.pt", "checkpoint.last.pt", "checkpoint.prev.pt", "history.json"):
        (exp / name).unlink(missing_ok=True)
