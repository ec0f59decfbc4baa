"""Shared by the job launchers run.py and slurm.py (Kaldi run.pl convention); not a script.

Both take `[options] [JOB=START:END] <log-file> <command> [<arg> ...]` with the same options, join
the command the same way and write logs in the same format, so a $cmd behaves identically locally
and on Slurm. Messages start with the launcher's own name (its sys.argv[0]).
"""

import re
import shlex
import sys
import time
from pathlib import Path


def die(msg):
    print(f"{Path(sys.argv[0]).name}: {msg}", file=sys.stderr)
    sys.exit(1)


def positive_int(name, value, minimum=1):
    if not re.fullmatch(r"\d+", str(value)) or int(value) < minimum:
        die(f"option --{name.replace('_', '-')} expects an integer >= {minimum}, got '{value}'")
    return int(value)


# Every launcher accepts every option (run.py ignores the resource ones), name -> validator.
OPTIONS = {
    "max_jobs_run": positive_int,
    "num_threads": positive_int,
    "gpu": lambda n, v: positive_int(n, v, minimum=0),
    "num_nodes": positive_int,
    "mem": lambda n, v: v,
    "partition": lambda n, v: v,
    "time": lambda n, v: v,
    "config": lambda n, v: v,
}


def parse_args(argv, usage):
    """Return (options, job variable or None, start, end, log file, command); --help prints usage."""
    opts, i = {}, 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(usage.strip())
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
        die(f"{end - start + 1} jobs would all write to the same log file {rest[0]} (it should contain {var})")
    return opts, var, start, end, rest[0], rest[1:]


def shell_join(args):
    # Verbatim for whitespace-free args keeps Kaldi's "cmd '|' other" idiom working.
    return " ".join(a if a and not re.search(r"\s", a) else shlex.quote(a) for a in args)


def substitute(text, var, index):
    """`text` with every occurrence of the job variable replaced by `index` (plain substring)."""
    return text.replace(var, str(index)) if var else text


def now():
    return time.strftime("%a %b %d %H:%M:%S %Z %Y")


# Log format. slurm.py writes it from a bash job script, so the fields may be shell expansions.
def log_header(cmd, started, host=None):
    return f"# {cmd}\n" + (f"# Running on {host}\n" if host else "") + f"# Started at {started}\n"


def log_footer(code, elapsed, threads, ended):
    return (
        f"# Accounting: time={elapsed} threads={threads}\n"
        f"# Ended (code {code}) at {ended}, elapsed time {elapsed} seconds\n"
    )


def die_if_failed(failed, njobs, logfile, var, first_failed_log=None):
    """Exits when a job failed; the first failed log's "ERROR:" lines (what our programs print for
    bad input) are shown too, so the cause is on the console and not only in a log file."""
    if failed:
        if first_failed_log is not None:
            try:
                errors = [
                    ln
                    for ln in Path(first_failed_log).read_text(errors="replace").splitlines()
                    if ln.startswith("ERROR")
                ]
            except OSError:
                errors = []
            for line in errors[-3:]:
                print(f"{first_failed_log}: {line}", file=sys.stderr)
        die(f"{failed} / {njobs} failed, log is in {substitute(logfile, var, '*')}")
