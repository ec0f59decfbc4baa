"""The training loop every recipe shares: batches, accumulation, clipping, checkpoints, resume,
model selection on a validation metric, early stopping.

A model is an nn.Module with
  forward(batch) -> {"loss": scalar tensor, "logs": {name: float}}   (training objective)
  predict(batch) -> {"emo_logits": (B, C)} and/or {"vad": (B, 3)}     (outputs to score)
and optionally `on_epoch_start(epoch, history)` (e.g. Dynamic Weight Average updates its weights).

Resume is exact: the last checkpoint holds model, optimiser, scheduler and RNG states, and the
batch order depends only on (seed, epoch), so a killed-and-restarted run ends where an
uninterrupted one does.

Under torchrun (WORLD_SIZE > 1) the same loop runs data-parallel (ser.train.distributed): the global
`batch_size` is dealt out over the ranks, losses and validation predictions are gathered, rank 0
alone writes, and a non-finite loss on any rank stops every rank. `amp` (ser.train.amp) sets the
precision of forward passes.
"""

import contextlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ser.data.dataset import collate
from ser.data.sampler import BucketBatchSampler
from ser.eval.metrics import add_combined, classification_scores, regression_scores
from ser.train import distributed
from ser.train.amp import Amp
from ser.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ser.train.param_groups import param_groups
from ser.utils import SerError, atomic_path, get_logger, progress, set_seed

log = get_logger("trainer")


@dataclass
class TrainConfig:
    max_epochs: int = 30
    batch_size: int = 32
    accum_grad: int = 1
    optimizer: str = "adam"
    lr: float = 1e-4
    head_lr: float = 0.0  # > 0: lr of the newly initialised parts, `lr` then only for the pretrained part
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_decay: str = "none"  # none, or cosine: from lr (after warm-up) down to 0 at max_epochs
    grad_clip: float = 5.0
    patience: int = 10
    select_metric: str = "ua"  # a validation score (ua, wa, macro_f1, ccc_mean, ua_ccc, loss) or "last"
    seed: int = 0
    max_frames_per_batch: int = 0  # also caps validation and inference batches (same memory budget)
    min_batch_size: int = 1  # training batches below it are merged into a neighbour (BatchNorm, CCC)
    num_threads: int = 0
    device: str = "auto"
    amp: str = "none"  # none, auto, bf16, fp16 (ser.train.amp)
    num_workers: int = 0  # data-loading worker processes per training process

    @classmethod
    def from_dict(cls, d: dict, where: str = "train") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SerError(f"{where}: unknown config keys {unknown} (known: {sorted(known)})")
        return cls(**d)


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def make_loader(dataset, batch_size, shuffle, seed=0, max_frames=0, num_workers=0, env=None, min_batch_size=1):
    """Bucketed batches; under DDP (`env`) training batches are dealt out over the ranks and
    evaluation utterances shared between them."""
    if env is not None and env.enabled:
        if shuffle:
            sampler = distributed.DistributedBucketBatchSampler(
                dataset.lengths(),
                batch_size,
                env,
                seed=seed,
                max_frames=max_frames or None,
                min_batch_size=min_batch_size,
            )
        else:
            sampler = distributed.ShardSampler(dataset.lengths(), batch_size, env, max_frames or None)
    else:
        sampler = BucketBatchSampler(
            dataset.lengths(),
            batch_size,
            shuffle=shuffle,
            seed=seed,
            max_frames=max_frames or None,
            min_batch_size=min_batch_size,
        )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers)


def make_optimizer(params, conf: TrainConfig):
    """`params`: parameters, or groups of them as dicts (ser.train.param_groups)."""
    params = list(params)
    if params and not isinstance(params[0], dict):
        params = [p for p in params if p.requires_grad]
    if conf.optimizer == "adam":
        return torch.optim.Adam(params, lr=conf.lr, weight_decay=conf.weight_decay)
    if conf.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=conf.lr, weight_decay=conf.weight_decay)
    if conf.optimizer == "sgd":
        return torch.optim.SGD(params, lr=conf.lr, momentum=0.9, weight_decay=conf.weight_decay)
    raise SerError(f"unknown optimizer '{conf.optimizer}' (adam, adamw, sgd)")


def lr_factor(conf: TrainConfig, total_steps: int):
    """Step -> lr multiplier: linear warm-up, then constant or a cosine decay to 0 at total_steps."""
    if conf.lr_decay not in ("none", "cosine"):
        raise SerError(f"train.lr_decay '{conf.lr_decay}' unknown (none, cosine)")

    def factor(step):
        warm = min(1.0, (step + 1) / conf.warmup_steps) if conf.warmup_steps else 1.0
        if conf.lr_decay == "none":
            return warm
        done = max(0, step - conf.warmup_steps) / max(1, total_steps - conf.warmup_steps)
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor


@torch.no_grad()
def run_predict(model, loader, device, desc="predict") -> dict:
    """Runs `model.predict` over a loader -> {"utts", "emo_logits", "vad", targets...} as numpy."""
    model.eval()
    out = {"utts": []}
    for batch in progress(loader, desc=desc, leave=False):
        batch = to_device(batch, device)
        pred = model.predict(batch)
        out["utts"].extend(batch["utt"])
        for key in ("emo_logits", "vad"):
            if key in pred:
                out.setdefault(key, []).append(pred[key].float().cpu().numpy())
        for key in ("emo", "vad"):
            if key in batch:
                out.setdefault(f"target_{key}", []).append(batch[key].cpu().numpy())
        if "loss" in pred:
            out.setdefault("loss", []).append(float(pred["loss"]) * len(batch["utt"]))
    for key, value in list(out.items()):
        if key == "loss":
            out[key] = float(np.sum(value) / len(out["utts"]))
        elif key != "utts":
            out[key] = np.concatenate(value)
    return out


def score_predictions(pred: dict, num_classes: int) -> dict:
    scores = {}
    if "emo_logits" in pred and "target_emo" in pred:
        scores.update(classification_scores(pred["target_emo"], pred["emo_logits"].argmax(1), num_classes))
    if "vad" in pred and "target_vad" in pred:
        scores.update(regression_scores(pred["vad"], pred["target_vad"]))
    if "loss" in pred:
        scores["loss"] = pred["loss"]
    return add_combined(scores)


class Trainer:
    def __init__(self, model, conf: TrainConfig, exp_dir, num_classes: int):
        self.model = model
        self.conf = conf
        self.exp_dir = Path(exp_dir)
        self.num_classes = num_classes
        self.dist, self.device = distributed.setup(conf.device)
        if conf.num_threads > 0:
            torch.set_num_threads(conf.num_threads)
        self.last_ckpt = self.exp_dir / "checkpoint.last.pt"
        self.best_model = self.exp_dir / "model.best.pt"

    def _better(self, value, best):
        if best is None or self.conf.select_metric == "last":  # "last": keep the final epoch's model
            return True
        return value < best if self.conf.select_metric == "loss" else value > best

    def _finished_checkpoint(self) -> bool:
        ckpt = load_checkpoint(self.last_ckpt)
        return ckpt is not None and bool(ckpt["state"]["done"])

    def _save(self, state):
        if self.dist.is_main:
            save_checkpoint(state, self.last_ckpt)

    def _validate(self, model, loader) -> dict:
        pred = run_predict(model, loader, self.device, "valid")
        if self.dist.enabled:
            pred = distributed.merge_predictions(distributed.gather_objects(pred, self.dist))
        return score_predictions(pred, self.num_classes)

    def fit(self, train_set, valid_set, resume: bool = True, restart_finished: bool = False) -> dict:
        """Trains, resuming from the last checkpoint when `resume`. A checkpoint of a run that
        finished is a no-op to resume from, unless `restart_finished`: then the caller wants a new
        run (e.g. its "trained" marker was deleted) and training starts over."""
        conf = self.conf
        if resume and restart_finished and self._finished_checkpoint():
            log.info("%s: its last run finished; training again from the start as asked", self.exp_dir)
            resume = False
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        env = self.dist
        set_seed(conf.seed + env.rank)  # ranks draw different dropout masks; rank 0 as one process
        model = self.model.to(self.device)
        optim = make_optimizer(param_groups(model, conf.lr, conf.head_lr), conf)
        self.amp = Amp(conf.amp, self.device)
        train_loader = make_loader(
            train_set,
            conf.batch_size,
            True,
            conf.seed,
            conf.max_frames_per_batch,
            conf.num_workers,
            env,
            conf.min_batch_size,
        )
        valid_loader = make_loader(
            valid_set,
            conf.batch_size,
            False,
            max_frames=conf.max_frames_per_batch,
            num_workers=conf.num_workers,
            env=env,
        )
        steps_per_epoch = math.ceil(len(train_loader) / conf.accum_grad)
        sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_factor(conf, steps_per_epoch * conf.max_epochs))
        state = {"epoch": 0, "best": None, "best_epoch": 0, "bad_epochs": 0, "history": [], "done": False}
        ckpt = load_checkpoint(self.last_ckpt, self.device) if resume else None
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optim.load_state_dict(ckpt["optim"])
            sched.load_state_dict(ckpt["sched"])
            self.amp.load_state_dict(ckpt.get("amp", {}))
            ranks = ckpt.get("rng_ranks", [ckpt["rng"]])
            set_rng_state(ranks[env.rank] if len(ranks) == env.world_size else ckpt["rng"])
            state = ckpt["state"]
            log.info(
                "resuming %s from epoch %d (best %s=%s at epoch %d)",
                self.exp_dir,
                state["epoch"],
                conf.select_metric,
                state["best"],
                state["best_epoch"],
            )
        if state["done"]:
            log.info("%s: training already finished; nothing to do", self.exp_dir)
            return state
        log.info(
            "training on %s: %d train / %d valid utterances, %d steps per epoch, outputs in %s",
            self.device,
            len(train_set),
            len(valid_set),
            steps_per_epoch,
            self.exp_dir,
        )
        log.info(
            "effective batch size %d (batch_size %d x accum_grad %d; %d process(es), %s precision, %d loader workers)",
            conf.batch_size * conf.accum_grad,
            conf.batch_size,
            conf.accum_grad,
            env.world_size,
            {"none": "float32"}.get(self.amp.mode, self.amp.mode),
            conf.num_workers,
        )
        self.ddp = None
        if env.enabled:
            if self.device.type == "cuda":  # batch statistics of the global batch, as in one process
                model = self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            # Some models leave a head unused in a step (a task without labels in the batch).
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )

        for epoch in range(state["epoch"] + 1, conf.max_epochs + 1):
            if hasattr(model, "on_epoch_start"):
                model.on_epoch_start(epoch, state["history"])
            train_loader.batch_sampler.set_epoch(epoch)
            train_logs = self._train_epoch(model, optim, sched, train_loader, epoch)
            scores = self._validate(model, valid_loader)
            if conf.select_metric not in scores and conf.select_metric != "last":
                raise SerError(
                    f"select_metric '{conf.select_metric}' is not among the validation scores {sorted(scores)}"
                )
            value = scores.get(conf.select_metric, float(epoch))
            improved = self._better(value, state["best"])
            if improved:
                state.update(best=value, best_epoch=epoch, bad_epochs=0)
                if env.is_main:
                    with atomic_path(self.best_model) as tmp:
                        torch.save(model.state_dict(), tmp)
            else:
                state["bad_epochs"] += 1
            extra = model.epoch_logs() if hasattr(model, "epoch_logs") else {}
            state["history"].append({"epoch": epoch, "train": train_logs, "valid": scores, **extra})
            state["epoch"] = epoch
            state["done"] = epoch == conf.max_epochs or state["bad_epochs"] >= conf.patience
            log.info(
                "epoch %d: train %s | valid %s%s%s",
                epoch,
                _fmt(train_logs),
                _fmt(scores),
                f" | {_fmt(extra)}" if extra else "",
                " *best*" if improved and conf.select_metric != "last" else "",
            )
            self._save(
                {
                    "model": model.state_dict(),
                    "optim": optim.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": rng_state(),
                    "rng_ranks": distributed.gather_objects(rng_state(), env),
                    "amp": self.amp.state_dict(),
                    "state": state,
                }
            )
            if env.is_main:
                (self.exp_dir / "history.json").write_text(json.dumps(state["history"], indent=1, default=float))
            distributed.barrier(env)  # a rank killed from here on resumes from this epoch's checkpoint
            if state["done"]:
                if epoch < conf.max_epochs:
                    log.info("early stop: no %s improvement for %d epochs", conf.select_metric, conf.patience)
                break
        if conf.select_metric == "last":
            log.info("kept the last epoch (%d); model in %s", state["best_epoch"], self.best_model)
        else:
            log.info(
                "best %s=%.4f at epoch %d; model in %s",
                conf.select_metric,
                state["best"],
                state["best_epoch"],
                self.best_model,
            )
        return state

    def _train_epoch(self, model, optim, sched, loader, epoch) -> dict:
        conf, env, amp = self.conf, self.dist, self.amp
        model.train()
        sums, n = {}, 0
        # Under DDP a rank's loss is weighted by its share of the global batch (0 for a stand-in).
        weights = loader.batch_sampler.step_weights() if env.enabled else None
        optim.zero_grad()
        num_batches = len(loader)  # once: the sampler's epoch batches are cached, not rebuilt per step
        bar = progress(loader, desc=f"epoch {epoch}", leave=False, disable=not env.is_main)
        for i, batch in enumerate(bar, 1):
            batch = to_device(batch, self.device)
            step = i % conf.accum_grad == 0 or i == num_batches
            # Gradients are all-reduced only on the micro-batch that steps the optimiser.
            sync = self.ddp.no_sync() if self.ddp is not None and not step else contextlib.nullcontext()
            with sync:
                with amp.autocast():
                    out = (self.ddp or model)(batch)
                loss = out["loss"].float()
                bad = not bool(torch.isfinite(loss))
                if distributed.any_rank(bad, env, self.device):
                    where = "" if not env.enabled else (" on this rank" if bad else " on another rank")
                    utts = " ".join(batch["utt"]) if bad else "see the other rank's log"
                    raise SerError(
                        f"non-finite loss{where} at epoch {epoch}, batch {i} (utterances: {utts}); check their "
                        "audio and features, or lower the lr"
                    )
                scaled = loss * weights[i - 1] if weights is not None else loss
                amp.backward(scaled / conf.accum_grad)
            if step:
                if conf.grad_clip > 0:
                    amp.unscale(optim)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), conf.grad_clip)
                amp.step(optim)
                sched.step()
                optim.zero_grad()
            bs = len(batch["utt"]) if weights is None or weights[i - 1] > 0 else 0
            n += bs
            for k, v in {"loss": float(loss.detach()), **out.get("logs", {})}.items():
                sums[k] = sums.get(k, 0.0) + float(v) * bs
            bar.set_postfix(loss=f"{sums['loss'] / max(n, 1):.3f}")
        if env.enabled:  # every rank's utterances, as one process would have averaged them
            keys = sorted(set().union(*distributed.gather_objects(list(sums), env)))
            *totals, n = distributed.all_reduce_sum([sums.get(k, 0.0) for k in keys] + [n], env, self.device)
            sums = dict(zip(keys, totals))
        return {k: v / max(n, 1) for k, v in sums.items()}


def _fmt(d: dict) -> str:
    return " ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items() if not isinstance(v, (list, dict))
    )


def config_dict(conf: TrainConfig) -> dict:
    return asdict(conf)
