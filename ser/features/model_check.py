"""Checks, before any long stage, that every pretrained model a recipe needs loads: its s3prl /
Whisper upstreams and its text encoders. A failure names the model and how to get it (or the
missing Python package), so a run does not stop after hours of acoustic dumping because the text
encoder's tokenizer needs sentencepiece or its weights were never downloaded."""

import importlib
from pathlib import Path

from ser.features.upstream import FEATURE_ONLY, load_upstream
from ser.utils import SerError, get_logger

log = get_logger("model_check")

# Tokenizers of these model families read a SentencePiece model (DeBERTa-v2/v3, XLM-R, ALBERT, T5).
SENTENCEPIECE_FILES = ("spm.model", "sentencepiece.bpe.model", "spiece.model")


def _has_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def check_upstream(name: str, path: str | None = None) -> str | None:
    """None when the upstream loads, else the problem and how to get it."""
    if name in FEATURE_ONLY:
        return None
    try:
        load_upstream(name, path or None)
    except SerError as e:
        return f"upstream '{name}'{f' ({path})' if path else ''}: {e}"
    return None


def _needs_sentencepiece(source: str) -> bool:
    folder = Path(source)
    if folder.is_dir():
        return any((folder / f).is_file() for f in SENTENCEPIECE_FILES) and not (folder / "tokenizer.json").is_file()
    return any(k in source.lower() for k in ("deberta-v3", "deberta-v2", "xlm-roberta", "albert", "t5"))


def check_text_encoder(name: str | None) -> str | None:
    """None when the text encoder's tokenizer and weights load, else the problem and how to fix it."""
    from ser.features.text import TextEncoder, resolve_encoder

    try:
        source = resolve_encoder(name)
    except SerError as e:
        return f"text encoder '{name or 'minilm'}': {e}"
    if _needs_sentencepiece(source) and not _has_module("sentencepiece"):
        return (
            f"text encoder '{source}': its tokenizer needs the Python package sentencepiece, which is not "
            "installed: tools/venv/bin/pip install sentencepiece (it is in setup.py's text extra: "
            "pip install -e '.[text]')"
        )
    try:
        TextEncoder(name)
    except SerError as e:
        return str(e)
    return None


def check_models(upstreams=(), text_encoders=()) -> list[str]:
    """[problem, ...] over every (name, path) upstream and text encoder name; empty when all load."""
    problems = []
    for name, path in upstreams:
        problem = check_upstream(name, path)
        log.info("upstream %s%s: %s", name, f" ({path})" if path else "", "loads" if problem is None else "FAILS")
        if problem:
            problems.append(problem)
    for name in text_encoders:
        problem = check_text_encoder(name)
        log.info("text encoder %s: %s", name or "minilm (packaged)", "loads" if problem is None else "FAILS")
        if problem:
            problems.append(problem)
    return problems
