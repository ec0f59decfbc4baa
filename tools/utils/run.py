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
  --max-jobs-run N   run at most N jobs at a time (default: number of CPUs)
  --num-threads N, --mem X, --gpu N, --partition P, --time T, --config FILE
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
from launcher_common import die, die_if_failed, log_footer, log_header, now, parse_args, shell_join, substitute  # noqa: E402


def run_job(index, var, logfile, command):
    log = Path(substitute(logfile, var, index))
    cmd = shell_join([substitute(a, var, index) for a in command])
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        f.write(log_header(cmd, now()))
        f.flush()  # our header must precede the child's output in the file
        code = subprocess.run(
            ["bash", "-c", cmd], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT
        ).returncode
        if code < 0:  # killed by a signal: report it the way a shell would
            code = 128 - code
        elapsed = int(time.time() - start)
        f.write(log_footer(code, elapsed, 1, now()))
    return code


def main(argv):
    opts, var, start, end, logfile, command = parse_args(argv, __doc__)
    njobs = end - start + 1
    max_jobs = opts.get("max_jobs_run") or len(os.sched_getaffinity(0)) or 1
    try:
        with ThreadPoolExecutor(max_workers=min(max_jobs, njobs)) as pool:
            codes = list(pool.map(lambda j: run_job(j, var, logfile, command), range(start, end + 1)))
    except OSError as e:
        die(f"cannot run job: {e}")
    failed = [j for j, c in zip(range(start, end + 1), codes) if c != 0]
    die_if_failed(len(failed), njobs, logfile, var, substitute(logfile, var, failed[0]) if failed else None)


if __name__ == "__main__":
    main(sys.argv[1:])
