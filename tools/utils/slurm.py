#!/usr/bin/env python3
"""Run a command as a Slurm array job and wait for it (Kaldi run.pl convention).

Usage: slurm.py [options] [JOB=START:END] <log-file> <command> [<arg> ...]

  slurm.py --mem 8G --gpu 1 JOB=1:4 exp/log/extract.JOB.log extract.py --part JOB

The command line is built as in run.py (see run.py --help). slurm.py writes a
job script to <log-dir>/q/<name>.sh (for exp/log/extract.JOB.log: name
"extract") that replaces JOB by $SLURM_ARRAY_TASK_ID in the command and the log
path, then submits it with
  sbatch --parsable --wait --array=START-END[%MAX] --job-name=<name>
         --output=<log-dir>/q/<name>.%a.out [resource options] <script>
and waits. Each task writes its own log file, in the same format as run.py
(plus "# Running on <host>").

Options (they override the config file):
  --num-threads N    --cpus-per-task=N
  --mem X            --mem=X (Slurm syntax, e.g. 8G)
  --gpu N            --gres=gpu:N (nothing when N is 0)
  --partition P      --partition=P
  --time T           --time=T (e.g. 4:00:00)
  --max-jobs-run N   at most N tasks at a time (--array=...%N)
  --config FILE      defaults, e.g. conf/slurm.conf; see below
  -h, --help         show this help

Config file format: one entry per line; "#" starts a comment.
  option <name>=<value>   default for an option above (name with - or _):
                          option partition=gpu
                          option time=24:00:00
  sbatch <args...>        extra sbatch arguments, split like a shell would:
                          sbatch --account=myproject --qos=normal

Exit status: 0 if every task logged "# Ended (code 0)"; otherwise 1 with
"slurm.py: K / N failed, log is in <log-file with JOB -> *>" on stderr.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROG = "slurm.py"


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def positive_int(name, value, minimum=1):
    if not re.fullmatch(r"\d+", str(value)) or int(value) < minimum:
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
    # Same rule as run.py so that a command behaves identically locally and on Slurm.
    return " ".join(a if a and not re.search(r"\s", a) else shlex.quote(a) for a in args)


def read_config(path):
    defaults, extra = {}, []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        die(f"cannot read config file: {e}")
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.replace("\t", " ").partition(" ")
        name, eq, value = rest.strip().partition("=")
        name = name.strip().replace("-", "_")
        if kind == "option" and eq and name in OPTIONS and name != "config":
            defaults[name] = OPTIONS[name](name, value.strip())
        elif kind == "sbatch" and rest.strip():
            extra += shlex.split(rest)
        else:
            die(f"{path} line {n}: expected 'option <name>=<value>' or 'sbatch <args>', "
                f"got '{line}'")
    return defaults, extra


def job_script(var, logfile, command, threads, sbatch_cmd):
    # Substituting at run time (not here) keeps the exact run.py semantics: the
    # task id replaces JOB before bash parses the command, even inside quotes.
    lines = [
        "#!/usr/bin/env bash",
        f"# Generated by {PROG} at {time.strftime('%Y-%m-%d %H:%M:%S')}; submitted with:",
        f"#   {shlex.join(sbatch_cmd)}",
        f"cd {shlex.quote(os.getcwd())} || exit 1",
        "task=${SLURM_ARRAY_TASK_ID:?this script must run as a Slurm array task}",
        f"cmd={shlex.quote(shell_join(command))}",
        f"log={shlex.quote(logfile)}",
    ]
    if var:
        lines += [f"cmd=${{cmd//{var}/$task}}", f"log=${{log//{var}/$task}}"]
    lines += [
        'mkdir -p "$(dirname "$log")" || exit 1',
        "start=$(date +%s)",
        '{ printf "# %s\\n" "$cmd"; echo "# Running on $(hostname)"; '
        'echo "# Started at $(date)"; } > "$log"',
        'bash -c "$cmd" < /dev/null >> "$log" 2>&1',
        "ret=$?",
        "elapsed=$(( $(date +%s) - start ))",
        f'echo "# Accounting: time=$elapsed threads={threads}" >> "$log"',
        'echo "# Ended (code $ret) at $(date), elapsed time $elapsed seconds" >> "$log"',
        "exit $ret",
    ]
    return "\n".join(lines) + "\n"


def task_succeeded(log):
    try:
        ended = re.findall(r"^# Ended \(code (\d+)\)", log.read_text(errors="replace"), re.M)
    except OSError:
        return False  # the task never started
    return bool(ended) and ended[-1] == "0"


def main(argv):
    opts, var, start, end, logfile, command = parse_args(argv)
    defaults, extra = read_config(opts["config"]) if "config" in opts else ({}, [])
    o = {**defaults, **opts}
    sbatch = shutil.which("sbatch")
    if not sbatch:
        die("sbatch not found on PATH (not a Slurm host?); use utils/run.py to run locally")

    template = Path(logfile.replace(var, "") if var else logfile)
    name = re.sub(r"\.{2,}", ".", re.sub(r"\.log$", "", template.name)).strip(".") or "job"
    qdir = template.parent / "q"
    script = qdir / f"{name}.sh"
    array = f"{start}-{end}" + (f"%{o['max_jobs_run']}" if "max_jobs_run" in o else "")
    cmd = [sbatch, "--parsable", "--wait", f"--array={array}", f"--job-name={name}",
           f"--output={qdir}/{name}.%a.out"]
    if "num_threads" in o:
        cmd.append(f"--cpus-per-task={o['num_threads']}")
    if "mem" in o:
        cmd.append(f"--mem={o['mem']}")
    if o.get("gpu"):
        cmd.append(f"--gres=gpu:{o['gpu']}")
    if "partition" in o:
        cmd.append(f"--partition={o['partition']}")
    if "time" in o:
        cmd.append(f"--time={o['time']}")
    cmd += extra + [str(script)]

    logs = [Path(logfile.replace(var, str(j)) if var else logfile) for j in range(start, end + 1)]
    try:
        qdir.mkdir(parents=True, exist_ok=True)
        script.write_text(job_script(var, logfile, command, o.get("num_threads", 1), cmd))
        script.chmod(0o755)
        for log in logs:  # a stale "# Ended (code 0)" must not hide a task that never ran
            log.unlink(missing_ok=True)
    except OSError as e:
        die(f"cannot prepare job: {e}")
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    failed = sum(not task_succeeded(log) for log in logs)
    if failed:
        shown = logfile.replace(var, "*") if var else logfile
        die(f"{failed} / {len(logs)} failed, log is in {shown}")
    if proc.returncode != 0:
        die(f"sbatch exited with status {proc.returncode} (job {proc.stdout.strip()}), "
            f"see {qdir}/{name}.*.out")


if __name__ == "__main__":
    main(sys.argv[1:])
