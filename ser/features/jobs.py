"""The job protocol every dumping program shares: job J of NJ writes <out>/feats.J.{ark,scp};
a finished job is skipped on re-runs; `--merge` joins the job scps into <out>/feats.scp."""

import argparse
from pathlib import Path

import numpy as np

from ser.features.store import merge_scps
from ser.utils import SerError, get_logger

log = get_logger("jobs")


def add_job_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--float16", action="store_true", help="store half precision (halves the ark size)")
    ap.add_argument("--nj", type=int, default=1)
    ap.add_argument("--job", type=int, default=1)
    ap.add_argument("--merge", action="store_true", help="merge the nj job scps into feats.scp")


def job_utts(utts, nj: int, job: int):
    """Contiguous near-equal shares, like split_scp."""
    if not 1 <= job <= nj:
        raise SerError(f"--job {job} is outside 1..{nj}")
    bounds = np.linspace(0, len(utts), nj + 1).astype(int)
    return utts[bounds[job - 1]:bounds[job]]


def merge_jobs(out, nj: int) -> None:
    out = Path(out)
    merge_scps([out / f"feats.{j}.scp" for j in range(1, nj + 1)], out / "feats.scp")
    log.info("merged %d jobs into %s", nj, out / "feats.scp")


def job_stem(out, job: int, nj: int) -> Path | None:
    """The stem job `job` writes to, or None when that job already finished."""
    stem = Path(out) / f"feats.{job}"
    if (Path(out) / f"feats.{job}.scp").is_file():
        log.info("job %d/%d already done (%s.scp); skipping", job, nj, stem)
        return None
    return stem
