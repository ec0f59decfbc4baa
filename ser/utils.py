"""Small helpers every program uses: logging, seeding, devices, atomic writes."""

import contextlib
import logging
import os
import random
import sys
from pathlib import Path

import numpy as np


def get_logger(name: str) -> logging.Logger:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr,
            level=os.environ.get("SER_LOG_LEVEL", "INFO"),
            format="%(asctime)s [%(name)s] %(levelname)s %(message)s",
            datefmt="%H:%M:%S",
        )
    return logging.getLogger(name)


def set_seed(seed: int) -> None:
    import torch  # here, not at the top: data-prep programs import this module without needing torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def pick_device(device: str = "auto"):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary sibling path; renames it onto `path` only if the block succeeds.

    A stage killed halfway then leaves the old file (or none), never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


class SerError(RuntimeError):
    """An error caused by the user's input (corpus, config, data dir), shown without a traceback."""


def progress(iterable, **kwargs):
    """tqdm that redraws at most every 30 s when stderr is a log file rather than a terminal."""
    from tqdm import tqdm

    kwargs.setdefault("mininterval", 0.1 if sys.stderr.isatty() else 30.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def run_main(main) -> None:
    """Runs a program's main(); user errors become one clear line and exit code 1."""
    try:
        main()
    except SerError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        sys.exit(1)
