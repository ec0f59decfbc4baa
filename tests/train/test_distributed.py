"""ser.train.distributed on the CPU (gloo backend; no GPU here): the ranks' batches, a non-finite
loss on one rank, and kill-and-resume of a 2-process torchrun job."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ser.data.datadir import DataDir
from ser.data.sampler import BucketBatchSampler
from ser.features.store import FeatWriter
from ser.train.distributed import DistEnv, DistributedBucketBatchSampler, ShardSampler, merge_predictions

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["neu", "hap", "ang", "sad"]


def test_ranks_share_every_global_batch_in_the_same_order():
    lengths = np.random.default_rng(0).integers(5, 500, size=103)
    for epoch in (1, 2):
        single = BucketBatchSampler(lengths, 16, seed=7)
        single.set_epoch(epoch)
        ranks = [DistributedBucketBatchSampler(lengths, 16, DistEnv(r, 3), seed=7) for r in range(3)]
        for s in ranks:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in ranks]
        assert len({len(b) for b in per_rank}) == 1  # the same number of steps on every rank
        for step, batch in enumerate(single):
            parts = [p[step] for p in per_rank]
            weights = [s.step_weights()[step] for s in ranks]
            real = [p for p, w in zip(parts, weights) if w > 0]
            assert sorted(i for p in real for i in p) == sorted(batch)
            # DDP averages the ranks' weighted mean losses: that must be the whole batch's mean.
            value = np.sin(np.arange(len(lengths)))
            ddp_mean = sum(w * value[p].mean() for p, w in zip(parts, weights)) / 3
            assert ddp_mean == pytest.approx(value[batch].mean())
    # A last batch smaller than the ranks: the rank without an utterance gets a weight-0 stand-in.
    tiny = [DistributedBucketBatchSampler([3, 4, 5], 2, DistEnv(r, 2), shuffle=False) for r in range(2)]
    assert [list(s) for s in tiny] == [[[0], [2]], [[1], [2]]]
    assert [s.step_weights() for s in tiny] == [[1.0, 2.0], [1.0, 0.0]]


def test_evaluation_shards_cover_every_utterance_once():
    lengths = list(range(10, 21))
    shards = [[i for b in ShardSampler(lengths, 4, DistEnv(r, 3)) for i in b] for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
    parts = [
        {"utts": [f"u{i}" for i in s], "emo_logits": np.ones((len(s), 2)), "loss": float(r)}
        for r, s in enumerate(shards)
    ]
    merged = merge_predictions(parts)
    assert merged["emo_logits"].shape == (11, 2)
    assert merged["loss"] == pytest.approx(sum(r * len(s) for r, s in enumerate(shards)) / 11)


def toy_fold(root: Path, n_train=48, nan_utt=None) -> Path:
    """Train and valid dirs, one feature store whose means encode the class (`nan_utt`: NaN), a config."""
    rng = np.random.default_rng(0)
    with FeatWriter(root / "feats", meta={"num_layers": 2, "dim": 3}) as w:
        for name, n in (("train", n_train), ("valid", 16)):
            utts = [f"{name}_{i:04d}" for i in range(n)]
            emo = {u: CLASSES[i % 4] for i, u in enumerate(utts)}
            for u in utts:
                x = rng.standard_normal((int(rng.integers(5, 15)), 6)).astype(np.float32)
                x[:, CLASSES.index(emo[u])] += 2.0
                w(u, np.full_like(x, np.nan) if u == nan_utt else x)
            DataDir({"utt2spk": {u: f"{name}{i % 3}" for i, u in enumerate(utts)}, "utt2emo": emo}).write(root / name)
    (root / "train.yaml").write_text(
        "data: {feats: [ssl]}\nmodel: {name: baseline, proj_dim: 8, dropout: 0.2}\n"
        "train: {batch_size: 8, lr: 5.0e-3, patience: 50, seed: 3, device: cpu}\n"
    )
    return root


def train(root: Path, exp: Path, epochs: int, nproc: int = 2) -> list:
    """ser.bin.train on the toy fold: through torchrun on `nproc` processes, or as one process."""
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] if nproc > 1 else []
    return [
        sys.executable, *launch,
        "-m", "ser.bin.train", "--config", str(root / "train.yaml"), "--set", f"train.max_epochs={epochs}",
        "--train-dir", str(root / "train"), "--valid-dir", str(root / "valid"),
        "--feat", f"ssl={root / 'feats.scp'}", "--exp-dir", str(exp),
    ]  # fmt: skip


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    root = toy_fold(tmp_path, nan_utt="train_0005")
    # Without the ranks agreeing to stop, the other rank would wait in its next all-reduce forever.
    proc = subprocess.run(train(root, tmp_path / "exp", 2), env=ENV, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "non-finite loss on this rank at epoch 1" in out, out[-3000:]
    assert "non-finite loss on another rank at epoch 1" in out, out[-3000:]
    assert not (tmp_path / "exp" / "checkpoint.last.pt").exists()


def descendants(pid: int) -> list:
    """Every process below `pid` (torchrun's workers leave its process group)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def test_kill_and_resume_under_ddp_equals_uninterrupted(tmp_path):
    root = toy_fold(tmp_path, n_train=1200)
    epochs = 4
    ref = subprocess.run(train(root, tmp_path / "ref", epochs), env=ENV, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    exp = tmp_path / "killed"
    job = subprocess.Popen(
        train(root, exp, epochs),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = exp / "checkpoint.last.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and job.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    for pid in [job.pid, *descendants(job.pid)]:  # torchrun and both ranks, as a node failure would
        os.kill(pid, signal.SIGSTOP)  # first frozen, so no rank writes after the others died
    for pid in [job.pid, *descendants(job.pid)]:
        os.kill(pid, signal.SIGKILL)
    job.wait()
    killed_at = torch.load(ckpt, weights_only=False)["state"]["epoch"]
    assert killed_at < epochs, "the run finished before it could be killed; the test needs longer epochs"

    resumed = subprocess.run(train(root, exp, epochs), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {exp} from epoch {killed_at}" in resumed.stderr
    a = torch.load(tmp_path / "ref" / "model.best.pt", weights_only=True)
    b = torch.load(exp / "model.best.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    ha = torch.load(tmp_path / "ref" / "checkpoint.last.pt", weights_only=False)["state"]["history"]
    hb = torch.load(ckpt, weights_only=False)["state"]["history"]
    assert [h["train"]["loss"] for h in ha] == pytest.approx([h["train"]["loss"] for h in hb], abs=1e-6)


def test_ddp_with_accumulation_matches_one_process(tmp_path):
    """Gradient accumulation (DDP syncs only the stepping micro-batch) and loader workers under DDP."""
    root = toy_fold(tmp_path, n_train=60)
    opts = ["--set", "model.dropout=0.0", "--set", "train.accum_grad=2", "--set", "train.num_workers=1"]
    ddp = subprocess.run(train(root, tmp_path / "ddp", 3) + opts, env=ENV, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = subprocess.run(
        train(root, tmp_path / "one", 3, nproc=1) + opts, env=ENV, capture_output=True, text=True, timeout=600
    )
    assert one.returncode == 0, one.stderr[-3000:]
    assert "effective batch size 16 (batch_size 8 x accum_grad 2; 2 process(es)" in ddp.stderr
    assert "effective batch size 16 (batch_size 8 x accum_grad 2; 1 process(es)" in one.stderr
    a = torch.load(tmp_path / "ddp" / "model.best.pt", weights_only=True)
    b = torch.load(tmp_path / "one" / "model.best.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
