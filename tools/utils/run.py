#!/usr/bin/env python3
"""Run a command locally, once or as an array of jobs (Kaldi run.pl convention).

Usage: run.py [options] [JOB=START:END] <log-file> <command> [<arg> ...]

  run.py JOB=1:4 exp/log/extract.JOB.log extract.py --part JOB data/split4/JOB
  run.py exp/log/train.log train.py --config conf/train.yaml

Every occurrence of the job variable name (any name before "=", usually JOB;
plain substring match, as in Kaldi) in the log path and in each argument is
replaced by the job index. The arguments are joined into one "bash -c" command
line: an argument without whitespace is used verbatim, so "|", ">" or "&&"
act as shell operators (write them as separate arguments, e.g. '|'); an
argument containing whitespace, or an empty one, is quoted as a single word.
Jobs get no stdin; no "set -o pipefail" is added (as in Kaldi).

Options:
  --max-jobs-run N   run at most N jobs at a time (default: number of CPUs;
                     with --gpu, also at most as many as the GPUs hold)
  --gpu N            each job gets N GPUs of its own: CUDA_VISIBLE_DEVICES is
                     set to them (the machine's GPUs: $CUDA_VISIBLE_DEVICES
                     when set, else nvidia-smi's list). A GPU is held through a
                     lock file (in $SER_GPU_LOCK_DIR, default
                     /tmp/ser-gpu-locks-<uid>) while its job runs, so separate
                     run.py processes never share one; a job finding too few
                     free GPUs fails, as does an explicit --max-jobs-run asking
                     for more jobs at once than the GPUs hold. On a machine
                     without GPUs, --gpu is ignored (jobs run on the CPU).
  --num-nodes N      only 1 here (several nodes need utils/slurm.py)
  --num-threads N, --mem X, --partition P, --time T, --config FILE
                     accepted so that a $cmd written for slurm.py also works
                     locally; ignored here
  -h, --help         show this help

Each log file holds "# <command>", "# Started at <date>", the command's stdout
and stderr, "# Accounting: time=<seconds> threads=1" and
"# Ended (code <status>) at <date>, elapsed time <seconds> seconds".
Exit status: 0 if every job succeeded; otherwise 1 with
"run.py: K / N failed, log is in <log-file with JOB -> *>" on stderr.
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))  # launcher_common, from any cwd
from gpus import GpuSlots, visible_gpus  # noqa: E402
from launcher_common import die, die_if_failed, log_footer, log_header, now, parse_args, shell_join, substitute  # noqa: E402


def run_job(index, var, logfile, command, slots=None, ngpu=0):
    log = Path(substitute(logfile, var, index))
    cmd = shell_join([substitute(a, var, index) for a in command])
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        f.write(log_header(cmd, now()))
        f.flush()  # our header must precede the child's output in the file
        env, held = None, []
        taken = slots.take(ngpu) if slots else None
        if slots and taken is None:
            f.write(
                f"ERROR: run.py: no {ngpu} free GPU(s) for this job: the machine's GPUs "
                f"({','.join(slots.gpus)}) are held by other jobs (lock files in {slots.dir}); run fewer GPU jobs "
                "at once (e.g. train_folds.sh --parallel)\n"
            )
            code = 1
        else:
            if taken:
                ids, held = taken
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(ids)}
            try:
                code = subprocess.run(
                    ["bash", "-c", cmd], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env
                ).returncode
            finally:
                GpuSlots.give_back(held)
        if code < 0:  # killed by a signal: report it the way a shell would
            code = 128 - code
        elapsed = int(time.time() - start)
        f.write(log_footer(code, elapsed, 1, now()))
    return code


def gpu_slots(opts, njobs):
    """GpuSlots when jobs ask for GPUs and the machine has some, and how many jobs fit at once."""
    ngpu = opts.get("gpu", 0)
    gpus = visible_gpus() if ngpu else []
    if not gpus:
        return None, None
    if ngpu > len(gpus):
        die(f"a job asks for --gpu {ngpu}, but this machine has {len(gpus)} GPU(s) ({','.join(gpus)})")
    fit = len(gpus) // ngpu
    asked = min(opts.get("max_jobs_run", fit), njobs)
    if asked > fit:
        die(
            f"--max-jobs-run {asked} jobs of --gpu {ngpu} at once need {asked * ngpu} GPUs; "
            f"this machine has {len(gpus)} ({','.join(gpus)})"
        )
    return GpuSlots(gpus), fit


def main(argv):
    opts, var, start, end, logfile, command = parse_args(argv, __doc__)
    if opts.get("num_nodes", 1) > 1:
        die(f"--num-nodes {opts['num_nodes']}: run.py runs on this machine only; use utils/slurm.py")
    njobs = end - start + 1
    max_jobs = opts.get("max_jobs_run") or len(os.sched_getaffinity(0)) or 1
    slots, fit = gpu_slots(opts, njobs)
    if fit:
        max_jobs = min(max_jobs, fit)
    ngpu = opts.get("gpu", 0)
    try:
        with ThreadPoolExecutor(max_workers=min(max_jobs, njobs)) as pool:
            codes = list(pool.map(lambda j: run_job(j, var, logfile, command, slots, ngpu), range(start, end + 1)))
    except OSError as e:
        die(f"cannot run job: {e}")
    failed = [j for j, c in zip(range(start, end + 1), codes) if c != 0]
    die_if_failed(len(failed), njobs, logfile, var, substitute(logfile, var, failed[0]) if failed else None)


if __name__ == "__main__":
    main(sys.argv[1:])
