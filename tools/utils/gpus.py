"""GPUs for run.py's jobs; not a script.

The machine's GPUs are $CUDA_VISIBLE_DEVICES when it is set (a scheduler's share of the node),
else what `nvidia-smi` lists. A job asking for --gpu N holds N of them through lock files, so
jobs of separate run.py processes (train_folds.sh --parallel starts one per fold) never share a
GPU; the job sees only its own through CUDA_VISIBLE_DEVICES. The locks are flock()s: the kernel
drops them when a process dies, so a killed job never leaves a GPU taken.
"""

import fcntl
import os
import re
import subprocess
from pathlib import Path


def visible_gpus(environ=None) -> list[str]:
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [g.strip() for g in environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
        # CUDA stops at the first invalid entry ("-1" hides every GPU), so do we.
        valid = []
        for g in ids:
            if g.startswith("-"):
                break
            valid.append(g)
        return valid
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []  # no NVIDIA driver: a CPU machine
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if re.fullmatch(r"\d+", line.strip())]


def lock_dir() -> Path:
    return Path(os.environ.get("SER_GPU_LOCK_DIR") or f"/tmp/ser-gpu-locks-{os.getuid()}")


class GpuSlots:
    """Takes and gives back GPUs by lock file (one per GPU id in lock_dir())."""

    def __init__(self, gpus: list[str]):
        self.gpus = gpus
        self.dir = lock_dir()

    def take(self, n: int):
        """(ids, handles) of n free GPUs, or None when fewer than n are free."""
        self.dir.mkdir(parents=True, exist_ok=True)
        held = []
        for g in self.gpus:
            if len(held) == n:
                break
            name = re.sub(r"[^\w.-]", "_", g)  # a GPU UUID or MIG id as well as an index
            f = open(self.dir / f"gpu{name}.lock", "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            held.append((g, f))
        if len(held) < n:
            self.give_back([f for _, f in held])
            return None
        return [g for g, _ in held], [f for _, f in held]

    @staticmethod
    def give_back(handles) -> None:
        for f in handles:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
