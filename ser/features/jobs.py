"""The job protocol every dumping program shares: job J of NJ writes <out>/feats.J.{ark,scp};
a finished job is skipped on re-runs; `--merge` joins the job scps into <out>/feats.scp.
Also the thread count a job should use when NJ jobs share the machine's cores."""

import argparse
import os
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


def add_thread_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="torch threads of this job (default: $OMP_NUM_THREADS when set, else the cores this "
        "process may run on divided by --nj, at least 1)",
    )


def job_utts(utts, nj: int, job: int):
    """Contiguous near-equal shares, like split_scp."""
    if not 1 <= job <= nj:
        raise SerError(f"--job {job} is outside 1..{nj}")
    bounds = np.linspace(0, len(utts), nj + 1).astype(int)
    return utts[bounds[job - 1] : bounds[job]]


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


def usable_cores() -> int:
    """Cores this process may run on: the affinity mask (taskset, cgroups/Slurm allocations), not the
    machine's count, which overstates what a job in a restricted allocation has."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def omp_threads_from_env() -> int | None:
    """$OMP_NUM_THREADS as a positive int (its first level when nested, e.g. "4,2"), else None."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def default_num_threads(nj: int) -> int:
    """Threads per job when the user gives none.

    $OMP_NUM_THREADS wins when set: whoever set it (the user, a cluster profile, a batch script)
    has said how many threads each process gets, as every OpenMP program honours it. Otherwise the
    usable cores are shared among the NJ jobs utils/run.py starts at once (it runs at most one job per
    core): more OpenMP threads than cores make the threads of the jobs preempt each other at every
    parallel region, many times slower than one thread each.
    """
    return omp_threads_from_env() or max(1, usable_cores() // max(1, nj))


def set_num_threads(requested: int | None, nj: int) -> int:
    """Applies --num-threads (or the default above) to torch; returns the count used."""
    import torch  # here: the merge step and data tools import this module without needing torch

    n = default_num_threads(nj) if requested is None else requested
    if n < 1:
        raise SerError(f"--num-threads {n}: need at least 1")
    torch.set_num_threads(n)
    return n
