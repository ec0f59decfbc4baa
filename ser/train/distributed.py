"""Data-parallel training on torch.distributed (DDP), launched by torchrun.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; a process started without
them (WORLD_SIZE unset or 1) is the ordinary single-device run, untouched by anything here.

`batch_size` stays the global batch, as in ESPnet: `DistributedBucketBatchSampler` builds exactly
the batches the single-process `BucketBatchSampler` builds for (seed, epoch), then deals each batch
out over the ranks. Each rank's loss is weighted by its share of the batch, so DDP's gradient mean
equals the gradient of the single-process batch mean: 2 processes and 1 process with the same
global batch train the same model (up to float summation order).
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ser.data.sampler import BucketBatchSampler
from ser.utils import SerError, get_logger, pick_device

log = get_logger("distributed")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_from_vars(environ=None) -> DistEnv:
    """The process's place in the job, from torchrun's variables (a single process without them)."""
    environ = os.environ if environ is None else environ
    try:
        world = int(environ.get("WORLD_SIZE", "1"))
        rank = int(environ.get("RANK", "0"))
        local = int(environ.get("LOCAL_RANK", "0"))
    except ValueError as e:
        raise SerError(f"torchrun variables RANK/WORLD_SIZE/LOCAL_RANK must be integers: {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise SerError(f"RANK={rank} is not a rank of WORLD_SIZE={world}")
    return DistEnv(rank, world, local)


def is_main_process() -> bool:
    """Rank 0, or a single process; readable before the process group exists."""
    return env_from_vars().is_main


def setup(device: str = "auto") -> tuple[DistEnv, torch.device]:
    """Joins the process group when torchrun started this process: NCCL on CUDA (one GPU per local
    rank), gloo on CPU. Only rank 0 logs below WARNING, so a job's log reads like one process's."""
    env = env_from_vars()
    if not env.enabled:
        return env, pick_device(device)
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        if env.local_rank >= torch.cuda.device_count():
            raise SerError(
                f"LOCAL_RANK={env.local_rank} but this node shows {torch.cuda.device_count()} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
                "--ngpu must not exceed the GPUs given to the job"
            )
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if not env.is_main:
        import logging

        logging.getLogger().setLevel(logging.WARNING)
    log.info("rank %d of %d on %s (%s backend)", env.rank, env.world_size, dev, dist.get_backend())
    return env, dev


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def all_reduce_sum(values: list[float], env: DistEnv, device) -> list[float]:
    """The sums over ranks of each rank's `values` (float64, so sums of losses do not drift)."""
    if not env.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool, env: DistEnv, device) -> bool:
    """True on every rank when it is True on one: a rank that must stop tells the others, which
    would otherwise wait for it in the next collective forever."""
    if not env.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj, env: DistEnv) -> list:
    if not env.enabled:
        return [obj]
    out = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def merge_predictions(parts: list[dict]) -> dict:
    """Per-rank `run_predict` outputs -> one, as if one process had predicted every utterance."""
    parts = [p for p in parts if p["utts"]]
    merged = {"utts": [u for p in parts for u in p["utts"]]}
    for key in parts[0]:
        if key == "loss":
            merged[key] = float(sum(p[key] * len(p["utts"]) for p in parts) / len(merged["utts"]))
        elif key != "utts":
            merged[key] = np.concatenate([p[key] for p in parts])
    return merged


class DistributedBucketBatchSampler(BucketBatchSampler):
    """The single-process bucketed batches of (seed, epoch), each dealt out over the ranks.

    A batch is length-sorted, so dealing it round-robin keeps similar lengths on every rank (a
    bucket per rank, little padding) and every rank takes the same number of steps. A rank left
    without an utterance of a short last batch gets a stand-in with weight 0 (it must still join
    the gradient all-reduce). `step_weights()` are the factors that make the ranks' mean gradient
    the gradient of the whole batch's mean loss.
    """

    def __init__(self, lengths, batch_size: int, env: DistEnv, **kwargs):
        super().__init__(lengths, batch_size, **kwargs)
        self.env = env

    def _global_batches(self):
        return super()._batches()

    def _batches(self):
        r, w = self.env.rank, self.env.world_size
        return [b[r::w] or b[:1] for b in self._global_batches()]

    def step_weights(self) -> list[float]:
        r, w = self.env.rank, self.env.world_size
        return [len(b[r::w]) * w / len(b) for b in self._global_batches()]


class ShardSampler(BucketBatchSampler):
    """Evaluation: every rank predicts its own share of the utterances (no repeats, so scores over
    the gathered predictions are those of one process), in length-sorted batches."""

    def __init__(self, lengths, batch_size: int, env: DistEnv, max_frames=None):
        if len(lengths) < env.world_size:
            raise SerError(f"{len(lengths)} utterances cannot be shared by {env.world_size} processes")
        self.shard = np.arange(len(lengths))[env.rank :: env.world_size]
        super().__init__(np.asarray(lengths)[self.shard], batch_size, shuffle=False, max_frames=max_frames)

    def _batches(self):
        return [[int(self.shard[i]) for i in b] for b in super()._batches()]
