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
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROG = "run.py"


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def positive_int(name, value, minimum=1):
    if not re.fullmatch(r"\d+", value) or int(value) < minimum:
        die(f"option --{name.replace('_', '-')} expects an integer >= {minimum}, got '{value}'")
    return int(value)


OPTIONS = {
    "max_jobs_run": positive_int,
    "num_threads": positive_int,
    "gpu": lambda n, v: positive_int(n, v, minimum=0),
    "mem": lambda n, v: v,
    "partition": lambda n, v: v,
    "time": lambda n, v: v,
    "config": lambda n, v: v,
}


def parse_args(argv):
    """Return (options, job variable or None, start, end, log file, command)."""
    opts, i = {}, 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        opt, eq, value = arg.partition("=")
        name = opt.lstrip("-").replace("-", "_")
        if not opt.startswith("--") or name not in OPTIONS:
            die(f"unknown option {opt} (see --help)")
        if not eq:
            if i + 1 >= len(argv):
                die(f"option {opt} requires a value")
            i += 1
            value = argv[i]
        opts[name] = OPTIONS[name](name, value)
        i += 1
    rest = argv[i:]
    var, start, end = None, 1, 1
    m = re.fullmatch(r"([A-Za-z_]\w*)=(\d+)(?::(\d+))?", rest[0]) if rest else None
    if m:
        var, start, end = m[1], int(m[2]), int(m[3] or m[2])
        rest = rest[1:]
        if start > end:
            die(f"empty job range {var}={start}:{end}")
    if len(rest) < 2:
        die("expected [JOB=START:END] <log-file> <command> [<arg> ...] (see --help)")
    if var and end > start and var not in rest[0]:
        die(f"{end - start + 1} jobs would all write to the same log file {rest[0]} "
            f"(it should contain {var})")
    return opts, var, start, end, rest[0], rest[1:]


def shell_join(args):
    # Verbatim for whitespace-free args keeps Kaldi's "cmd '|' other" idiom working.
    return " ".join(a if a and not re.search(r"\s", a) else shlex.quote(a) for a in args)


def now():
    return time.strftime("%a %b %d %H:%M:%S %Z %Y")


def run_job(index, var, logfile, command):
    def sub(s):
        return s.replace(var, str(index)) if var else s
    log = Path(sub(logfile))
    cmd = shell_join([sub(a) for a in command])
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        f.write(f"# {cmd}\n# Started at {now()}\n")
        f.flush()  # our header must precede the child's output in the file
        code = subprocess.run(["bash", "-c", cmd], stdin=subprocess.DEVNULL,
                              stdout=f, stderr=subprocess.STDOUT).returncode
        if code < 0:  # killed by a signal: report it the way a shell would
            code = 128 - code
        elapsed = int(time.time() - start)
        f.write(f"# Accounting: time={elapsed} threads=1\n"
                f"# Ended (code {code}) at {now()}, elapsed time {elapsed} seconds\n")
    return code


def main(argv):
    opts, var, start, end, logfile, command = parse_args(argv)
    njobs = end - start + 1
    max_jobs = opts.get("max_jobs_run") or len(os.sched_getaffinity(0)) or 1
    try:
        with ThreadPoolExecutor(max_workers=min(max_jobs, njobs)) as pool:
            codes = list(pool.map(lambda j: run_job(j, var, logfile, command),
                                  range(start, end + 1)))
    except OSError as e:
        die(f"cannot run job: {e}")
    failed = sum(c != 0 for c in codes)
    if failed:
        shown = logfile.replace(var, "*") if var else logfile
        die(f"{failed} / {njobs} failed, log is in {shown}")


if __name__ == "__main__":
    main(sys.argv[1:])
