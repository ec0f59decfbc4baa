"""Tests for the Python scripts in tools/utils, run as subprocesses in temporary dirs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[2] / "tools" / "utils"


def run(script, *args, cwd=None, env=None, stdin=None):
    return subprocess.run(
        [sys.executable, str(UTILS / script), *map(str, args)],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "script",
    [
        "run.py",
        "slurm.py",
        "split_scp.py",
        "utt2spk_to_spk2utt.py",
        "validate_data_dir.py",
        "fix_data_dir.py",
        "combine_data.py",
    ],
)
def test_help_and_executable(script):
    assert os.access(UTILS / script, os.X_OK)
    assert (UTILS / script).read_text().startswith("#!/usr/bin/env python3\n")
    p = run(script, "--help")
    assert p.returncode == 0 and "usage" in p.stdout.lower()


# ---------------------------------------------------------------- run.py


def test_run_substitutes_job_in_log_and_args(tmp_path):
    p = run(
        "run.py",
        "--num-threads",
        "4",
        "--mem",
        "2G",
        "--gpu",
        "1",
        "JOB=1:3",
        "log/x.JOB.log",
        "echo",
        "job=JOB",
        "two  spaces JOB",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    for j in (1, 2, 3):
        lines = (tmp_path / f"log/x.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo job={j} 'two  spaces {j}'"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"job={j} two  spaces {j}"
        assert lines[3].startswith("# Accounting: time=") and lines[3].endswith(" threads=1")
        assert lines[4].startswith("# Ended (code 0) at ")
    assert not (tmp_path / "log/x.4.log").exists()


def test_run_single_job_and_shell_operators(tmp_path):
    p = run("run.py", "log/one.log", "echo", "hello", "|", "tr", "a-z", "A-Z", ">&2", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "HELLO\n" in (tmp_path / "log/one.log").read_text()


def test_run_failures_are_counted(tmp_path):
    p = run("run.py", "JOB=1:4", "log/f.JOB.log", "bash", "-c", "exit $((JOB % 2))", cwd=tmp_path)
    assert p.returncode == 1
    assert "run.py: 2 / 4 failed, log is in log/f.*.log" in p.stderr
    assert "# Ended (code 1)" in (tmp_path / "log/f.3.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "log/f.2.log").read_text()


def test_run_max_jobs_run_1_is_sequential(tmp_path):
    cmd = "date +%s%N > t/JOB.start; sleep 0.2; date +%s%N > t/JOB.end"
    (tmp_path / "t").mkdir()
    p = run("run.py", "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", "bash", "-c", cmd, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    spans = sorted(
        (int((tmp_path / f"t/{j}.start").read_text()), int((tmp_path / f"t/{j}.end").read_text())) for j in (1, 2, 3)
    )
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))


def test_run_max_jobs_run_n_is_concurrent(tmp_path):
    # A barrier: every job waits until all 3 have started, so it only passes
    # when the 3 jobs really run at the same time.
    cmd = "touch bar/JOB; for i in $(seq 100); do [ $(ls bar | wc -l) -ge 3 ] && exit 0; sleep 0.05; done; exit 1"
    (tmp_path / "bar").mkdir()
    p = run("run.py", "--max-jobs-run=3", "JOB=1:3", "log/c.JOB.log", "bash", "-c", cmd, cwd=tmp_path)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus", "1", "log/x.log", "true"], "unknown option --bogus"),
        (["--max-jobs-run", "0", "log/x.log", "true"], "integer >= 1"),
        (["JOB=1:2", "log/x.log", "true"], "same log file"),
        (["JOB=3:1", "log/x.JOB.log", "true"], "empty job range"),
        (["log/x.log"], "expected"),
    ],
)
def test_run_bad_usage(tmp_path, args, message):
    p = run("run.py", *args, cwd=tmp_path)
    assert p.returncode != 0 and message in p.stderr and p.stderr.startswith("run.py: ")


# ---------------------------------------------------------------- slurm.py

FAKE_SBATCH = """\
#!{python}
# Stand-in for sbatch --wait: records its arguments, then runs the array tasks.
import json, os, re, subprocess, sys
args = sys.argv[1:]
with open(os.environ["SBATCH_RECORD"], "a") as f:
    f.write(json.dumps(args) + "\\n")
first, last = map(int, re.fullmatch(r"--array=(\\d+)-(\\d+)(%\\d+)?",
                [a for a in args if a.startswith("--array=")][0]).group(1, 2))
skip = os.environ.get("SBATCH_SKIP_TASKS", "").split()  # simulate cancelled tasks
codes = [subprocess.run(["bash", args[-1]],
                        env={{**os.environ, "SLURM_ARRAY_TASK_ID": str(t)}}).returncode
         for t in range(first, last + 1) if str(t) not in skip]
print("4242")
sys.exit(max(codes))
"""


@pytest.fixture
def slurm_env(tmp_path):
    bindir = tmp_path / "bin"
    sbatch = write(bindir / "sbatch", FAKE_SBATCH.format(python=sys.executable))
    sbatch.chmod(0o755)
    env = dict(
        os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", SBATCH_RECORD=str(tmp_path / "record.jsonl")
    )

    def submitted():
        return [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]

    return env, submitted


def test_slurm_submits_array_job(tmp_path, slurm_env):
    env, submitted = slurm_env
    p = run(
        "slurm.py",
        "--num-threads",
        "2",
        "--mem",
        "4G",
        "--gpu",
        "1",
        "--partition",
        "p1",
        "--time",
        "1:00:00",
        "JOB=1:3",
        "exp/log/x.JOB.log",
        "echo",
        "task JOB",
        "|",
        "tr",
        "a-z",
        "A-Z",
        cwd=tmp_path,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    [args] = submitted()
    for expected in (
        "--parsable",
        "--wait",
        "--array=1-3",
        "--cpus-per-task=2",
        "--mem=4G",
        "--gres=gpu:1",
        "--partition=p1",
        "--time=1:00:00",
    ):
        assert expected in args
    script = tmp_path / "exp/log/q/x.sh"
    assert args[-1] == "exp/log/q/x.sh" and script.exists()
    assert "SLURM_ARRAY_TASK_ID" in script.read_text()
    for j in (1, 2, 3):
        log = (tmp_path / f"exp/log/x.{j}.log").read_text()
        assert log.startswith(f"# echo 'task {j}' | tr a-z A-Z\n")
        assert f"TASK {j}\n" in log
        assert "# Accounting: time=" in log and "threads=2" in log
        assert "# Ended (code 0)" in log


def test_slurm_reports_failed_tasks(tmp_path, slurm_env):
    env, _ = slurm_env
    p = run("slurm.py", "JOB=1:3", "exp/log/f.JOB.log", "test", "JOB", "-ne", "2", cwd=tmp_path, env=env)
    assert p.returncode == 1
    assert "slurm.py: 1 / 3 failed, log is in exp/log/f.*.log" in p.stderr
    assert "# Ended (code 1)" in (tmp_path / "exp/log/f.2.log").read_text()


def test_slurm_task_that_never_ran_is_a_failure(tmp_path, slurm_env):
    env, _ = slurm_env
    write(tmp_path / "log/g.3.log", "# Ended (code 0) stale log from an earlier run\n")
    p = run("slurm.py", "JOB=1:3", "log/g.JOB.log", "true", cwd=tmp_path, env=dict(env, SBATCH_SKIP_TASKS="3"))
    assert p.returncode == 1
    assert "slurm.py: 1 / 3 failed, log is in log/g.*.log" in p.stderr


def test_slurm_config_and_single_job(tmp_path, slurm_env):
    env, submitted = slurm_env
    write(
        tmp_path / "conf/slurm.conf",
        "# cluster defaults\noption partition=gpu\noption time=2:00:00\nsbatch --account=acme  --qos=low\n",
    )
    p = run(
        "slurm.py",
        "--config",
        "conf/slurm.conf",
        "--time",
        "5:00",
        "--max-jobs-run",
        "2",
        "log/train.log",
        "echo",
        "hi",
        cwd=tmp_path,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    [args] = submitted()
    assert {"--partition=gpu", "--time=5:00", "--account=acme", "--qos=low", "--array=1-1%2"} <= set(args)
    assert not any(a.startswith("--gres") for a in args)
    assert "\nhi\n" in (tmp_path / "log/train.log").read_text()


def test_slurm_bad_config(tmp_path, slurm_env):
    env, _ = slurm_env
    write(tmp_path / "slurm.conf", "option partition=gpu\nqueue all.q\n")
    p = run("slurm.py", "--config", "slurm.conf", "log/x.log", "true", cwd=tmp_path, env=env)
    assert p.returncode == 1 and "slurm.conf line 2" in p.stderr


def test_slurm_without_sbatch(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # nothing on PATH
    p = run("slurm.py", "JOB=1:2", "log/x.JOB.log", "true", cwd=tmp_path, env=env)
    assert p.returncode == 1 and "sbatch not found" in p.stderr


# ---------------------------------------------------------------- split_scp.py


def test_split_even(tmp_path):
    lines = [f"utt{i:02d} /wav/{i}.wav\n" for i in range(10)]
    src = write(tmp_path / "wav.scp", "".join(lines))
    outs = [tmp_path / f"wav.{k}.scp" for k in (1, 2, 3)]
    p = run("split_scp.py", src, *outs)
    assert p.returncode == 0, p.stderr
    parts = [o.read_text().splitlines(keepends=True) for o in outs]
    assert [len(x) for x in parts] == [4, 3, 3]
    assert sum(parts, []) == lines


def test_split_by_speaker(tmp_path):
    spk = ["a"] * 3 + ["b"] + ["c"] * 4 + ["d"] * 2
    utts = [f"{s}-{i}" for i, s in enumerate(spk)]
    write(tmp_path / "utt2spk", "".join(f"{u} {s}\n" for u, s in zip(utts, spk)))
    src = write(tmp_path / "text", "".join(f"{u} words\n" for u in utts))
    p = run("split_scp.py", "--utt2spk", tmp_path / "utt2spk", src, tmp_path / "t1", tmp_path / "t2")
    assert p.returncode == 0, p.stderr
    parts = [(tmp_path / n).read_text().split()[::2] for n in ("t1", "t2")]
    assert parts == [utts[:4], utts[4:]]


def test_split_by_speaker_keeps_interleaved_order(tmp_path):
    write(tmp_path / "utt2spk", "u1 x\nu2 y\nu3 x\nu4 z\n")
    src = write(tmp_path / "scp", "u1 1\nu2 2\nu3 3\nu4 4\n")
    p = run("split_scp.py", "--utt2spk", tmp_path / "utt2spk", src, *(tmp_path / n for n in "ABC"))
    assert p.returncode == 0, p.stderr
    assert [(tmp_path / n).read_text() for n in "ABC"] == ["u1 1\nu3 3\n", "u2 2\n", "u4 4\n"]


def test_split_errors(tmp_path):
    src = write(tmp_path / "scp", "u1 a\nu2 b\n")
    p = run("split_scp.py", src, *(tmp_path / n for n in "ABC"))
    assert p.returncode == 1 and "2 lines" in p.stderr
    write(tmp_path / "utt2spk", "u1 s\nu2 s\n")
    p = run("split_scp.py", "--utt2spk", tmp_path / "utt2spk", src, tmp_path / "A", tmp_path / "B")
    assert p.returncode == 1 and "1 speakers" in p.stderr
    write(tmp_path / "utt2spk", "u1 s\n")
    p = run("split_scp.py", "--utt2spk", tmp_path / "utt2spk", src, tmp_path / "A")
    assert p.returncode == 1 and "line 2" in p.stderr and "u2" in p.stderr
    assert run("split_scp.py", src).returncode != 0  # no output given


# ---------------------------------------------------------------- utt2spk_to_spk2utt.py


def test_utt2spk_to_spk2utt(tmp_path):
    text = "u3 b\nu1 a\nu9 B\nu2 b\nu0 _x\n"
    expected = "B u9\n_x u0\na u1\nb u3 u2\n"  # C order: upper case < "_" < lower case
    assert run("utt2spk_to_spk2utt.py", stdin=text).stdout == expected
    p = run("utt2spk_to_spk2utt.py", write(tmp_path / "utt2spk", text))
    assert p.returncode == 0 and p.stdout == expected
    p = run("utt2spk_to_spk2utt.py", stdin="u1 a\nu2\n")
    assert p.returncode == 1 and "line 2" in p.stderr


# ---------------------------------------------------------------- validate / fix

GOOD = {
    "wav.scp": "s1_a /w/s1_a.wav\ns1_b /w/s1_b.wav\ns2_a sox /w/s2_a.flac -t wav - |\n",
    "utt2spk": "s1_a s1\ns1_b s1\ns2_a s2\n",
    "spk2utt": "s1 s1_a s1_b\ns2 s2_a\n",
    "text": "s1_a hello there\ns1_b good bye\ns2_a okay\n",
    "utt2emo": "s1_a ang\ns1_b neu\ns2_a hap\n",
    "utt2gender": "s1_a m\ns1_b m\ns2_a f\n",
    "utt2vad": "s1_a 3.5 4 2.0\ns1_b 1 1 1\ns2_a -0.5 0.25 1e-1\n",
    "utt2dur": "s1_a 2.5\ns1_b 0.73\ns2_a 10\n",
}


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data" / "train"
    for name, text in GOOD.items():
        write(d / name, text)
    return d


def validate(d, *opts):
    return run("validate_data_dir.py", *opts, d)


def test_validate_good_dir(data):
    p = validate(data)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"validate_data_dir.py: Successfully validated data-directory {data}"


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("utt2emo", "s1_b neu\ns1_a ang\ns2_a hap\n", ["utt2emo line 2", "not sorted"]),
        ("utt2spk", "s1_a s1\ns1_a s1\ns1_b s1\ns2_a s2\n", ["utt2spk line 2", "duplicate"]),
        ("utt2gender", "s1_a m\ns1_b m\ns2_a female\n", ["utt2gender line 3", "'m', 'f' or 'u'"]),
        ("utt2vad", "s1_a 3.5 4\ns1_b 1 1 1\ns2_a 1 1 1\n", ["utt2vad line 1", "three floats"]),
        ("utt2vad", "s1_a 1 1 1\ns1_b 1 x 1\ns2_a 1 1 1\n", ["utt2vad line 2", "three floats"]),
        ("utt2dur", "s1_a 2.5\ns1_b -1\ns2_a 10\n", ["utt2dur line 2", "positive"]),
        ("text", "s1_a hello\ns1_b\ns2_a okay\n", ["text line 2", "empty transcript"]),
        (
            "text",
            "s1_a hello\ns1_c extra\ns2_a okay\n",
            ["text line 2: utterance 's1_c' is not in utt2spk", "text: utterance 's1_b' (utt2spk line 2) is missing"],
        ),
        ("utt2emo", "s1_a ang\ns1_b neu\n", ["utt2emo: utterance 's2_a' (utt2spk line 3)"]),
        ("spk2utt", "s1 s1_a\ns2 s2_a\n", ["spk2utt line 1", "missing ['s1_b']"]),
        ("wav.scp", "s1_a /w/s1_a.wav\r\ns1_b x\ns2_a y\n", ["wav.scp line 1", "carriage return"]),
    ],
)
def test_validate_reports_file_line_and_problem(data, name, text, expected):
    (data / name).write_text(text)
    p = validate(data)
    assert p.returncode == 1
    assert "Successfully" not in p.stdout
    for fragment in expected:
        assert fragment in p.stderr, p.stderr
    assert f"{data / name}" in p.stderr


def test_validate_options(data):
    (data / "wav.scp").unlink()
    p = validate(data)
    assert p.returncode == 1 and "wav.scp: required file does not exist" in p.stderr
    assert validate(data, "--no-wav").returncode == 0
    (data / "text").write_text("s1_a hello\ns1_b\ns2_a okay\n")
    assert validate(data, "--no-wav").returncode == 1
    assert validate(data, "--no-wav", "--allow-empty-text").returncode == 0
    (data / "text").write_text("garbage\n")
    assert validate(data, "--no-wav", "--no-text").returncode == 0
    assert validate(data.parent / "missing").returncode == 1


def test_fix_data_dir_intersects_sorts_and_reports(data):
    (data / "wav.scp").write_text("s2_a /w/s2_a.wav\ns1_b /w/s1_b.wav\ns1_a /w/s1_a.wav\ns3_z /w/s3_z.wav\n")
    (data / "text").write_text("s1_a hello there\ns2_a okay\n")  # s1_b missing
    (data / "utt2emo").write_text("s1_a ang\n")  # s1_b, s2_a missing
    (data / "spk2utt").write_text("stale\n")
    original_wav = (data / "wav.scp").read_text()
    p = run("fix_data_dir.py", data)
    assert p.returncode == 0, p.stderr
    assert (
        "fix_data_dir.py: kept 1 of 4 utterances; 1 missing from utt2spk, "
        "2 missing from text, 3 missing from utt2emo, 1 missing from utt2gender, "
        "1 missing from utt2vad, 1 missing from utt2dur"
    ) in p.stderr
    assert (data / "wav.scp").read_text() == "s1_a /w/s1_a.wav\n"
    assert (data / "utt2vad").read_text() == "s1_a 3.5 4 2.0\n"
    assert (data / "spk2utt").read_text() == "s1 s1_a\n"
    assert (data / ".backup" / "wav.scp").read_text() == original_wav
    assert (data / ".backup" / "spk2utt").read_text() == "stale\n"
    assert not [f for f in os.listdir(data) if f.startswith(".fix_data_dir")]
    assert validate(data).returncode == 0


def test_fix_data_dir_sorts_without_dropping(data):
    for name, text in GOOD.items():  # reverse every file: all unsorted
        (data / name).write_text("".join(reversed(text.splitlines(keepends=True))))
    assert validate(data).returncode == 1
    p = run("fix_data_dir.py", data)
    assert p.returncode == 0 and "kept 3 of 3 utterances" in p.stderr
    assert "missing" not in p.stderr
    for name, text in GOOD.items():
        assert (data / name).read_text() == text
    assert validate(data).returncode == 0


def test_fix_data_dir_refuses_to_empty(data):
    (data / "text").write_text("other hello\n")
    p = run("fix_data_dir.py", data)
    assert p.returncode == 1 and "left unchanged" in p.stderr
    assert (data / "utt2spk").read_text() == GOOD["utt2spk"]
    assert run("fix_data_dir.py", data.parent / "nope").returncode == 1


def test_combine_data_concatenates_sorted_and_refuses_duplicates(tmp_path):
    write(tmp_path / "a/utt2spk", "s1_u2 s1\ns1_u1 s1\n")
    write(tmp_path / "a/utt2emo", "s1_u2 hap\ns1_u1 sad\n")
    write(tmp_path / "a/wav.scp", "s1_u2 /x/2.wav\ns1_u1 /x/1.wav\n")
    write(tmp_path / "b/utt2spk", "s0_u9 s0\n")
    write(tmp_path / "b/utt2emo", "s0_u9 ang\n")
    proc = run("combine_data.py", tmp_path / "c", tmp_path / "a", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c/utt2spk").read_text() == "s0_u9 s0\ns1_u1 s1\ns1_u2 s1\n"
    assert (tmp_path / "c/utt2emo").read_text() == "s0_u9 ang\ns1_u1 sad\ns1_u2 hap\n"
    assert (tmp_path / "c/spk2utt").read_text() == "s0 s0_u9\ns1 s1_u1 s1_u2\n"
    assert not (tmp_path / "c/wav.scp").exists() and "wav.scp is not in every source" in proc.stderr
    proc = run("combine_data.py", tmp_path / "d", tmp_path / "a", tmp_path / "a")
    assert proc.returncode != 0 and "'s1_u2' is in both" in proc.stderr  # the first in file order


def test_a_failed_job_shows_its_error_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(UTILS / "run.py"),
            "JOB=1:2",
            str(tmp_path / "log/e.JOB.log"),
            "bash",
            "-c",
            "[ JOB = 1 ] || { echo 'ERROR: config.yaml: unknown key x' >&2; exit 1; }",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert f"{tmp_path}/log/e.2.log: ERROR: config.yaml: unknown key x" in proc.stderr
    assert "1 / 2 failed" in proc.stderr
