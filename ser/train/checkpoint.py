"""Training checkpoints that `torch.load(weights_only=True)` reads: a file planted in an exp dir can
then not run code on resume. Model, optimiser and scheduler states are tensors and plain types
already; the RNG states and the run's history are converted to those here.

Saving keeps the previous checkpoint as `checkpoint.prev.pt`, so a last checkpoint that is
truncated or unreadable (a full disk, a copy cut short) costs one epoch, not the run.
"""

import os
import random
from pathlib import Path

import numpy as np
import torch

from ser.utils import SerError, atomic_path, get_logger

log = get_logger("checkpoint")


def plain(value):
    """Numpy scalars and arrays (scores, logs) -> Python numbers and lists, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },  # fmt: skip
        "python": {"version": version, "words": list(words), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["words"]), p["gauss_next"]))


def prev_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".last.", ".prev."))


def save_checkpoint(state: dict, path) -> None:
    """Writes `state` (made plain) atomically; the checkpoint it replaces becomes checkpoint.prev.pt."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(plain_state(state), tmp)
        if path.is_file():
            os.replace(path, prev_path(path))


def plain_state(state: dict) -> dict:
    out = dict(state)
    if "state" in out:
        out["state"] = plain(out["state"])
    return out


def read_weights(path, map_location="cpu", what="checkpoint"):
    """torch.load(weights_only=True) with an error naming the file and what to do."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise SerError(
            f"{what} {path} is unreadable ({type(e).__name__}: {str(e).splitlines()[0][:200]}): truncated, "
            "or not a plain-weights file written by this version (older checkpoints held pickled objects, "
            "which are not loaded as they could run code)"
        ) from e


def load_checkpoint(path, map_location="cpu") -> dict | None:
    """The last checkpoint, else (unreadable) the previous one, saying so; None when neither exists.
    Fails, naming both files, when none is readable."""
    path = Path(path)
    errors = []
    for p in (path, prev_path(path)):
        if not p.is_file():
            continue
        try:
            ckpt = read_weights(p, map_location)
        except SerError as e:
            errors.append(str(e))
            log.warning("%s", e)
            continue
        if p != path:
            log.warning("resuming from the previous checkpoint %s instead (one epoch is redone)", p)
        return ckpt
    if errors:
        raise SerError("no readable checkpoint to resume from: " + "; ".join(errors) + " (start over with --no-resume)")
    return None
