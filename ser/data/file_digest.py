"""Content digests of files (corpus audio), so that a run is redone when a file's content changed and
not when only its modification time did: a corpus copied again, restored from a backup or unpacked
anew gets new times for the same audio, and a stamp made of times then retrained every fold (and
deleted their models) for unchanged inputs. Digests are cached by (path, size, modification time,
inode) in an SQLite file, so a file is read again only after it changed on disk: hashing a
100k-file corpus costs one read of it, once.

    python -m ser.data.file_digest < paths     # prints "path size md5:DIGEST" per existing file
"""

import argparse
import hashlib
import os
import sqlite3
import stat
import sys
from pathlib import Path

from ser.utils import get_logger

log = get_logger("file_digest")
CACHE_ENV = "SER_DIGEST_CACHE"
ANNOUNCE = 1000  # say why a stamp takes a while when this many files are read


def default_cache() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ser-recipes" / "file_digests.sqlite"


def open_cache(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=120)  # folds stamped at once share it: wait, do not fail
    db.execute("CREATE TABLE IF NOT EXISTS digest (path TEXT PRIMARY KEY, size INT, mtime_ns INT, ino INT, md5 TEXT)")
    return db


def md5_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def file_digests(paths, cache: Path | None = None) -> list[tuple[str, int, str]]:
    """(path, size, md5) for every path that is an existing file, in the given order; others are
    left out (a wav.scp may name pipes, and missing audio is reported by the stages that read it)."""
    db = open_cache(cache or default_cache())
    try:
        stats = []
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                stats.append((p, os.path.abspath(p), st))
        known = {key for _, key, _ in stats}
        rows = db.execute("SELECT path, size, mtime_ns, ino, md5 FROM digest").fetchall() if known else []
        cached = {r[0]: r[1:] for r in rows if r[0] in known}
        digests, new = {}, []
        for p, key, st in stats:
            hit = cached.get(key)
            if hit is not None and hit[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
                digests[p] = hit[3]
            else:
                new.append((p, key, st))
        if len(new) >= ANNOUNCE:
            log.info("reading %d files not digested before (or changed on disk) to fingerprint them", len(new))
        for p, _, _ in new:
            digests[p] = md5_of(p)
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO digest VALUES (?, ?, ?, ?, ?)",
                [(key, st.st_size, st.st_mtime_ns, st.st_ino, digests[p]) for p, key, st in new],
            )
        return [(p, st.st_size, digests[p]) for p, _, st in stats]
    finally:
        db.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, help=f"digest cache (default: ${CACHE_ENV} or ~/.cache/ser-recipes)")
    args = ap.parse_args(argv)
    paths = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for p, size, digest in file_digests(paths, args.cache):
        print(f"{p} {size} md5:{digest}")


if __name__ == "__main__":
    main()
