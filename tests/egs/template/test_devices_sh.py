"""scripts/devices.sh, which ser.sh and gmp_atl.sh source after their options: --ngpu 0 runs every job
on the CPU (CUDA hidden, launched with $train_cmd, one process), and bad values fail."""

import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "egs/TEMPLATE/ser1/scripts"


def source(ngpu, num_nodes="1"):
    body = (
        f"ngpu={ngpu}; num_nodes={num_nodes}; train_cmd='utils/run.py'; cuda_cmd='utils/run.py --gpu 1'\n"
        f". {SCRIPTS}/devices.sh\n"
        'echo "ngpu=$ngpu cuda_cmd=$cuda_cmd visible=${CUDA_VISIBLE_DEVICES-unset}"\n'
        'python3 -c \'import os; print("child sees [" + os.environ["CUDA_VISIBLE_DEVICES"] + "]")\'\n'
    )
    env = {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "0,1"}
    return subprocess.run(["bash", "-c", body], capture_output=True, text=True, env=env)


def test_ngpu_0_hides_cuda_and_asks_for_no_gpu():
    proc = source(0)
    assert proc.returncode == 0, proc.stderr
    assert "--ngpu 0: every job runs on the CPU" in proc.stdout
    assert "ngpu=1 cuda_cmd=utils/run.py visible=\n" in proc.stdout
    assert "child sees []" in proc.stdout


def test_ngpu_2_keeps_the_gpu_launcher():
    proc = source(2)
    assert proc.returncode == 0, proc.stderr
    assert "ngpu=2 cuda_cmd=utils/run.py --gpu 1 visible=0,1\n" in proc.stdout


@pytest.mark.parametrize(
    "ngpu, num_nodes, message",
    [
        ("two", "1", "--ngpu must be a non-negative integer, got 'two'"),
        ("-1", "1", "--ngpu must be a non-negative integer, got '-1'"),
        ("1", "0", "--num_nodes must be at least 1, got '0'"),
        ("0", "2", "--ngpu 0 (CPU) runs one process per job on one node; --num_nodes 2 needs GPUs"),
    ],
)
def test_bad_values_fail(ngpu, num_nodes, message):
    proc = source(ngpu, num_nodes)
    assert proc.returncode != 0 and message in proc.stderr
