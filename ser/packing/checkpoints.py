"""Upstream checkpoints a packed model's features need: their sha256 at packing, and at loading the
copy inside the archive (small ones travel with it), the recorded path, or one the user gives.

A checkpoint is a file (an s3prl `.pt`) or a folder (a transformers model); a folder's checksum
covers every file's relative path and content, so a renamed or changed file is a different model."""

import hashlib
import os
from pathlib import Path

from ser.utils import SerError


def checkpoint_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    raise SerError(f"upstream checkpoint {path} not found")


def checkpoint_sha256(path) -> str:
    path = Path(path)
    h = hashlib.sha256()
    for f in checkpoint_files(path):
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def checkpoint_size(path) -> int:
    return sum(f.stat().st_size for f in checkpoint_files(Path(path)))


def cache_dir() -> Path:
    """Where embedded checkpoints are unpacked once, keyed by checksum."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ser-recipes" / "upstreams"


def resolve_checkpoint(ref: dict, given: dict) -> str:
    """The local path of checkpoint `ref` ({upstream, path, sha256}): the user's `given[upstream]`
    or the recorded path, which must have the recorded checksum."""
    upstream, recorded, sha = ref["upstream"], ref["path"], ref["sha256"]
    candidate = given.get(upstream) or recorded
    how = f"provide it with --upstream-path {upstream}=PATH (a copy with sha256 {sha[:12]}...)" + (
        " ; Whisper base: bash tools/get_whisper_base.sh" if upstream.startswith("whisper_base") else ""
    )
    if not Path(candidate).exists():
        raise SerError(
            f"the packed model needs the {upstream} checkpoint {recorded}, which is not on this machine: {how}"
        )
    actual = checkpoint_sha256(candidate)
    if actual != sha:
        raise SerError(
            f"the {upstream} checkpoint at {candidate} has sha256 {actual[:12]}..., not the packed model's "
            f"{sha[:12]}... (a different model): {how}"
        )
    return str(candidate)
