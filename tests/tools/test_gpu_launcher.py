"""GPU jobs through the launchers, without a GPU: a fake nvidia-smi on the PATH stands for the
driver, and each job reports the CUDA_VISIBLE_DEVICES it sees. A fake sbatch/srun/scontrol record
their arguments and run the job here."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UTILS = REPO / "tools" / "utils"
FAKE_NVIDIA_SMI = "#!/usr/bin/env bash\nprintf '0\\n1\\n'\n"
# Holds its GPU long enough for the other jobs to start meanwhile.
JOB = ["echo", "gpus=$CUDA_VISIBLE_DEVICES", "&&", "sleep", "1.5"]


@pytest.fixture
def two_gpus(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bindir / "nvidia-smi").chmod(0o755)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "SER_GPU_LOCK_DIR": str(tmp_path / "locks"),
    }


def run_py(*args, env, cwd, **kw):
    cmd = [sys.executable, str(UTILS / "run.py"), *args]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, **kw)


def seen(log: Path) -> str:
    return next(line for line in log.read_text().splitlines() if line.startswith("gpus="))[5:]


def test_parallel_jobs_get_distinct_gpus(tmp_path, two_gpus):
    p = run_py("--gpu", "1", "JOB=1:4", "log/j.JOB.log", *JOB, env=two_gpus, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    devices = [seen(tmp_path / f"log/j.{j}.log") for j in range(1, 5)]
    assert sorted(devices) == ["0", "0", "1", "1"]  # 4 jobs, 2 at a time: one per GPU
    p = run_py("--gpu", "2", "log/both.log", *JOB, env=two_gpus, cwd=tmp_path)
    assert p.returncode == 0 and seen(tmp_path / "log/both.log") == "0,1"


def test_separate_launchers_share_gpus_through_locks(tmp_path, two_gpus):
    # train_folds.sh --parallel 3 runs one run.py per fold: the third finds both GPUs taken.
    procs = []
    for k in (1, 2, 3):
        cmd = [sys.executable, str(UTILS / "run.py"), "--gpu", "1", f"log/f{k}.log", *JOB]
        procs.append(subprocess.Popen(cmd, env=two_gpus, cwd=tmp_path, stderr=subprocess.PIPE, text=True))
        time.sleep(0.3)
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0, 0, 1]
    assert {seen(tmp_path / "log/f1.log"), seen(tmp_path / "log/f2.log")} == {"0", "1"}
    assert "no 1 free GPU(s) for this job" in (tmp_path / "log/f3.log").read_text()
    assert "log is in log/f3.log" in procs[2].stderr.read()
    # The locks went with their jobs: both GPUs are free again.
    p = run_py("--gpu", "1", "--max-jobs-run", "2", "JOB=1:2", "log/g.JOB.log", *JOB, env=two_gpus, cwd=tmp_path)
    assert p.returncode == 0, p.stderr


def test_more_gpu_jobs_than_gpus_are_refused(tmp_path, two_gpus):
    p = run_py("--gpu", "1", "--max-jobs-run", "3", "JOB=1:3", "log/x.JOB.log", "true", env=two_gpus, cwd=tmp_path)
    assert p.returncode == 1 and "need 3 GPUs; this machine has 2 (0,1)" in p.stderr
    p = run_py("--gpu", "3", "log/y.log", "true", env=two_gpus, cwd=tmp_path)
    assert p.returncode == 1 and "asks for --gpu 3, but this machine has 2 GPU(s)" in p.stderr
    p = run_py("--num-nodes", "2", "log/z.log", "true", env=two_gpus, cwd=tmp_path)
    assert p.returncode == 1 and "use utils/slurm.py" in p.stderr
    assert not (tmp_path / "log").exists()


def test_cuda_visible_devices_is_the_machines_share(tmp_path, two_gpus):
    env = {**two_gpus, "CUDA_VISIBLE_DEVICES": "5,7"}  # e.g. a scheduler's share: nvidia-smi is not asked
    p = run_py("--gpu", "1", "JOB=1:2", "log/j.JOB.log", *JOB, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sorted(seen(tmp_path / f"log/j.{j}.log") for j in (1, 2)) == ["5", "7"]


def test_no_gpu_runs_on_the_cpu_as_before(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin"}  # no nvidia-smi
    p = run_py("--gpu", "1", "JOB=1:3", "log/j.JOB.log", *JOB[:2], env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert [seen(tmp_path / f"log/j.{j}.log") for j in (1, 2, 3)] == ["", "", ""]


FAKE_SBATCH = """#!{python}
# sbatch --wait stand-in: records its arguments, runs each array task here.
import json, os, re, subprocess, sys
args = sys.argv[1:]
open(os.environ["RECORD"], "a").write(json.dumps(["sbatch", *args]) + "\\n")
first, last = map(int, re.search(r"--array=(\\d+)-(\\d+)", " ".join(args)).group(1, 2))
env = {{**os.environ, "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_ID": "9731"}}
codes = [subprocess.run(["bash", args[-1]], env={{**env, "SLURM_ARRAY_TASK_ID": str(t)}}).returncode
         for t in range(first, last + 1)]
print("77")
sys.exit(max(codes))
"""
FAKE_SRUN = """#!{python}
# srun stand-in: records its arguments, runs the command once per node (SLURM_NODEID) here.
import json, os, re, subprocess, sys
args = sys.argv[1:]
open(os.environ["RECORD"], "a").write(json.dumps(["srun", *args]) + "\\n")
nodes = int(re.search(r"--nodes=(\\d+)", " ".join(args)).group(1))
cmd = [a for a in args if not a.startswith("--")]
procs = [subprocess.Popen(cmd, env={{**os.environ, "SLURM_NODEID": str(n), "SLURM_NNODES": str(nodes)}})
         for n in range(nodes)]
sys.exit(max(p.wait() for p in procs))
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN)):
        (bindir / name).write_text(text.format(python=sys.executable))
        (bindir / name).chmod(0o755)
    (bindir / "scontrol").write_text("#!/usr/bin/env bash\necho localhost\n")
    (bindir / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "RECORD": str(tmp_path / "rec")}
    return env, lambda: [json.loads(x) for x in (tmp_path / "rec").read_text().splitlines()]


def test_slurm_num_nodes_runs_the_command_on_every_node(tmp_path, fake_slurm):
    env, record = fake_slurm
    cmd = [sys.executable, str(UTILS / "slurm.py"), "--gpu", "2", "--num-nodes", "2", "JOB=1:2", "log/t.JOB.log"]
    p = subprocess.run(
        [*cmd, "echo", "task", "JOB", "node", "$SLURM_NODEID"],
        env=env,
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    sbatch = record()[0]
    assert sbatch[0] == "sbatch" and "--nodes=2" in sbatch and "--ntasks-per-node=1" in sbatch
    assert "--gres=gpu:2" in sbatch and "--wait" in sbatch and "--array=1-2" in sbatch
    assert [r[0] for r in record()] == ["sbatch", "srun", "srun"] and "--nodes=2" in record()[1]
    for j in (1, 2):
        log = (tmp_path / f"log/t.{j}.log").read_text()
        assert f"task {j} node 0" in log and f"task {j} node 1" in log and "# Ended (code 0)" in log
    # A node failing fails its task, and the launcher names the log.
    p = subprocess.run(
        [*cmd, "test", "$SLURM_NODEID", "=", "0", "-o", "JOB", "=", "1"],
        env=env,
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == 1 and "slurm.py: 1 / 2 failed, log is in log/t.*.log" in p.stderr


def test_torchrun_two_nodes_through_slurm(tmp_path, fake_slurm):
    """scripts/torchrun.sh --num_nodes 2 under slurm.py --num-nodes 2: two torchrun nodes (here both
    on this machine, gloo) meet at the first host of the node list and form one 2-process job."""
    env, record = fake_slurm
    (tmp_path / "utils").symlink_to(UTILS)
    (tmp_path / "scripts").symlink_to(REPO / "egs/TEMPLATE/ser1/scripts")
    (tmp_path / "probe.py").write_text(
        "import torch.distributed as dist\n"
        "dist.init_process_group('gloo')\n"
        "import os\n"  # one write per line: both nodes append to the same log at once
        "os.write(1, f'rank {dist.get_rank()} of {dist.get_world_size()}\\n'.encode())\n"
        "dist.destroy_process_group()\n"
    )
    env = {**env, "PYTHONPATH": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}
    cmd = [sys.executable, str(UTILS / "slurm.py"), "--num-nodes", "2", "log/ddp.log", "scripts/torchrun.sh"]
    p = subprocess.run(
        [*cmd, "--num_nodes", "2", "probe"],
        env=env,
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=180,
    )
    log = (tmp_path / "log/ddp.log").read_text()
    assert p.returncode == 0, p.stderr + log
    assert "rank 0 of 2" in log and "rank 1 of 2" in log
    # The port comes from the job id (20000 + 9731), so folds sharing a first node do not meet.
    assert "node 0 of 2, 1 process(es) here, master localhost:29731" in log


def test_template_slurm_conf_is_complete(tmp_path, fake_slurm):
    """The shipped conf/slurm.conf sets partition, GPUs, memory, time; cmd.sh's cuda_cmd overrides."""
    env, record = fake_slurm
    conf = REPO / "egs/TEMPLATE/ser1/conf/slurm.conf"
    cmd = [sys.executable, str(UTILS / "slurm.py"), "--config", str(conf)]
    p = subprocess.run([*cmd, "log/a.log", "true"], env=env, cwd=tmp_path, text=True, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    cpu_job = record()[-1]
    for arg in ("--partition=cpu", "--time=24:00:00", "--mem=16G", "--cpus-per-task=1", "--array=1-1%32"):
        assert arg in cpu_job
    assert not any(a.startswith(("--gres", "--nodes")) for a in cpu_job)  # gpu=0, one node
    cuda = [*cmd, "--gpu", "1", "--partition", "gpu", "log/b.log", "true"]  # cmd.sh's cuda_cmd
    assert subprocess.run(cuda, env=env, cwd=tmp_path, timeout=60).returncode == 0
    assert "--gres=gpu:1" in record()[-1] and "--partition=gpu" in record()[-1]
    assert (
        'cuda_cmd="utils/slurm.py --config conf/slurm.conf --gpu 1 --partition gpu"'
        in (REPO / "egs/TEMPLATE/ser1/cmd.sh").read_text()
    )
