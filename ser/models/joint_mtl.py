"""Joint discrete + dimensional SER: parallel encoders, self- and co-attention, two heads.

encoders   one per input, each switchable: a feature store in data.feats (MFCC, STF, log mel:
           "feat"; an s3prl upstream dump: "ssl", weighted layer sum of its frozen layers) or
           the raw waveform (`wav`, a learnable strided-conv front end; needs data.use_wav)
per encoder  input normalisation -> linear projection to `dim` -> strided conv subsampling
           (`subsample`, per kind or per name) -> sinusoidal positions on a common 10 ms time
           axis -> `self_attn_layers` transformer layers with padding masks
co-attention `coattn_layers` rounds in which each encoder's sequence attends to the frames of
           all the others (different lengths and frame rates, each with its own padding mask)
fusion     attentive pooling per encoder, concatenation, Linear + GELU: the last shared layer
heads      `tasks`: cls (emotion classes, cross-entropy) and/or reg (valence, arousal,
           dominance; 1 - mean CCC or MSE); tanh keeps V/A/D in the [-1, 1] the data scales to
loss       one task: its loss; both: w_cls L_cls + w_reg L_reg with w_<lam_task> = lambda (cls
           by default, by name whatever the order of `tasks`), the other task's 1 - lambda,
           from ser.losses.weighting: fixed, dwa (Dynamic Weighting) or gradnorm (Joint
           Weighting, on the fusion layer's weights). Per-task losses and weights are logged.
"""

import torch
from torch import nn

from ser.losses.ccc import make_regression_loss
from ser.losses.weighting import make_weighting
from ser.nn.attention import CoAttention, SelfAttentionEncoder, zero_padding
from ser.nn.frontend import ConvFrontend
from ser.nn.layer_sum import WeightedLayerSum
from ser.nn.pooling import lengths_to_mask, make_pooling
from ser.utils import SerError, get_logger

log = get_logger("joint_mtl")

TASKS = ("cls", "reg")
KINDS = ("feat", "ssl", "wav")
# Conv subsampling per encoder kind: every encoder ends at 40 ms frames by default (10 ms Kaldi
# features and the 10 ms front end by 4, 20 ms SSL frames by 2), which keeps attention, quadratic
# in length, affordable on IEMOCAP's longest turns (30+ s).
DEFAULT_SUBSAMPLE = {"feat": 4, "ssl": 2, "wav": 4}
BASE_SHIFT = 160  # samples per positional step: 10 ms at 16 kHz


class RunningCMVN(nn.Module):
    """Mean/variance normalisation per feature dimension with statistics accumulated over every
    real (unpadded) training frame seen so far: global CMVN over the training set, computed on
    the fly, so test and validation speakers never enter it and no separate stats stage is needed.
    Frozen in eval mode."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("sumsq", torch.zeros(dim, dtype=torch.float64))

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                real = x[lengths_to_mask(lens, x.shape[1])].double()
                self.count += real.shape[0]
                self.sum += real.sum(0)
                self.sumsq += (real * real).sum(0)
        if self.count == 0:
            return x
        mean = self.sum / self.count
        std = torch.sqrt((self.sumsq / self.count - mean * mean).clamp_min(1e-10))
        return (x - mean.to(x.dtype)) / std.to(x.dtype)


class Encoder(nn.Module):
    """One input stream -> (B, T', dim) self-attended frames and their lengths."""

    def __init__(
        self,
        name: str,
        kind: str,
        meta: dict,
        dim: int,
        subsample: int,
        heads: int,
        layers: int,
        dropout: float,
        frontend_channels: int,
        ssl_layer_norm: bool,
    ):
        super().__init__()
        self.name, self.kind = name, kind
        if kind == "wav":
            self.frontend = ConvFrontend(dim, frontend_channels)
            shift = self.frontend.frame_shift
        elif kind == "ssl":
            self.num_layers, self.in_dim = int(meta["num_layers"]), int(meta["dim"])
            self.layer_sum = WeightedLayerSum(self.num_layers, layer_norm=ssl_layer_norm)
            self.proj = nn.Linear(self.in_dim, dim)
            shift = int(meta.get("frame_shift_samples", 320))
        else:
            self.in_dim = int(meta["dim"])
            self.cmvn = RunningCMVN(self.in_dim)
            self.proj = nn.Linear(self.in_dim, dim)
            shift = int(meta.get("frame_shift_samples", BASE_SHIFT))
        self.stride = int(subsample)
        if self.stride < 1:
            raise SerError(f"encoder '{name}': subsample must be >= 1, got {subsample}")
        self.subsample = (
            nn.Sequential(nn.Conv1d(dim, dim, self.stride, stride=self.stride), nn.GELU()) if self.stride > 1 else None
        )
        self.frame_shift = shift * self.stride / BASE_SHIFT  # in 10 ms steps, shared by all encoders
        self.dropout = nn.Dropout(dropout)
        self.attn = SelfAttentionEncoder(dim, heads, layers, dropout=dropout)

    def forward(self, batch: dict):
        if self.kind == "wav":
            if "wav" not in batch:
                raise SerError("encoder 'wav' reads the audio: set data.use_wav: true in the config")
            x, lens = self.frontend(batch["wav"], batch["wav_lens"])
        else:
            x, lens = batch[self.name], batch[f"{self.name}_lens"]
            if self.kind == "ssl":
                b, t, d = x.shape
                if d != self.num_layers * self.in_dim:
                    raise SerError(
                        f"feature store '{self.name}' rows have {d} values; the model was built "
                        f"for {self.num_layers} layers x {self.in_dim}"
                    )
                x = self.layer_sum(x.view(b, t, self.num_layers, self.in_dim))
            else:
                if x.shape[-1] != self.in_dim:
                    raise SerError(
                        f"feature store '{self.name}' rows have {x.shape[-1]} values; the model was "
                        f"built for {self.in_dim}"
                    )
                x = self.cmvn(x, lens)
            x = self.proj(x)
        x = zero_padding(x, lens)
        if self.subsample is not None:
            # Zero-padded up to a multiple of the stride: the last real frame's window sees zeros,
            # never another utterance's padding, so a result does not depend on its batch.
            pad = (-x.shape[1]) % self.stride
            x = self.subsample(nn.functional.pad(x, (0, 0, 0, pad)).transpose(1, 2)).transpose(1, 2)
            lens = torch.div(lens + self.stride - 1, self.stride, rounding_mode="floor")
            x = zero_padding(x, lens)
        return self.attn(self.dropout(x), lens, self.frame_shift), lens


class JointMTL(nn.Module):
    def __init__(
        self,
        info: dict,
        encoders=("mfcc", "stf", "mel"),
        tasks=("cls", "reg"),
        dim: int = 128,
        heads: int = 4,
        self_attn_layers: int = 1,
        coattn: bool = True,
        coattn_layers: int = 1,
        subsample: dict | None = None,
        frontend_channels: int = 64,
        ssl_layer_norm: bool = True,
        pooling: str = "attentive",
        dropout: float = 0.1,
        reg_loss: str = "ccc",
        reg_activation: str = "tanh",
        class_weights: bool = False,
        weighting: str = "fixed",
        lam: float = 0.5,
        lam_task: str = "cls",
        dwa_temperature: float = 2.0,
        gradnorm_alpha: float = 1.5,
        gradnorm_lr: float = 0.01,
    ):
        super().__init__()
        self.tasks = list(tasks)
        if not self.tasks or any(t not in TASKS for t in self.tasks) or len(set(self.tasks)) != len(self.tasks):
            raise SerError(f"model.tasks must be a non-empty list of distinct {list(TASKS)}, got {tasks}")
        names = list(encoders)
        if not names or len(set(names)) != len(names):
            raise SerError(f"model.encoders must list distinct encoder names, got {encoders}")
        if pooling not in ("mean", "attentive"):
            raise SerError(f"model.pooling must be mean or attentive, got '{pooling}'")
        strides = dict(DEFAULT_SUBSAMPLE)
        unknown = sorted(set(subsample or {}) - set(KINDS) - set(names))
        if unknown:
            raise SerError(
                f"model.subsample has keys {unknown}: use encoder kinds {list(KINDS)} or encoder names {names}"
            )
        strides.update(subsample or {})
        feats = info.get("feats", {})
        unused = sorted(set(feats) - set(names))
        if unused:
            log.warning("feature stores %s are loaded (data.feats) but no encoder reads them", unused)
        self.encoders = nn.ModuleList()
        for name in names:
            if name == "wav":
                kind, meta = "wav", {}
            elif name in feats:
                meta = feats[name] or {}
                if "dim" not in meta:
                    raise SerError(
                        f"feature store '{name}' has no layout (feats.meta.json with 'dim'): "
                        "re-run the stage that dumps it"
                    )
                kind = "ssl" if meta.get("kind") == "upstream" else "feat"
            else:
                raise SerError(
                    f"model.encoders names '{name}', which is neither 'wav' nor a feature store in "
                    f"data.feats {sorted(feats)}: add it to data.feats and pass --feat {name}=<scp>"
                )
            self.encoders.append(
                Encoder(
                    name,
                    kind,
                    meta,
                    dim,
                    strides.get(name, strides[kind]),
                    heads,
                    self_attn_layers,
                    dropout,
                    frontend_channels,
                    ssl_layer_norm,
                )
            )
        self.coattn = CoAttention(len(names), dim, heads, coattn_layers, dropout=dropout) if coattn else None
        self.pools = nn.ModuleList(make_pooling(pooling, dim) for _ in names)
        self.fusion = nn.Sequential(nn.Linear(len(names) * dim, dim), nn.GELU(), nn.Dropout(dropout))
        self.heads = nn.ModuleDict()
        if "cls" in self.tasks:
            self.heads["cls"] = nn.Sequential(
                nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, info["num_classes"])
            )
            counts = torch.tensor(info.get("class_counts") or [1] * info["num_classes"], dtype=torch.float32)
            cw = counts.sum() / (len(counts) * counts.clamp_min(1.0)) if class_weights else torch.ones(len(counts))
            self.register_buffer("class_weight", cw)
        if "reg" in self.tasks:
            if reg_activation not in ("tanh", "none"):
                raise SerError(f"model.reg_activation must be tanh or none, got '{reg_activation}'")
            self.heads["reg"] = nn.Sequential(
                nn.Linear(dim, dim),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(dim, 3),
                nn.Tanh() if reg_activation == "tanh" else nn.Identity(),
            )
            self.reg_loss = make_regression_loss(reg_loss)
        self.weighting = (
            make_weighting(
                weighting,
                self.tasks,
                lam=lam,
                temperature=dwa_temperature,
                alpha=gradnorm_alpha,
                lr=gradnorm_lr,
                lam_task=lam_task,
            )
            if len(self.tasks) > 1
            else None
        )
        self.weighting_name = weighting

    # ---- computation ---------------------------------------------------------------------------
    def fused(self, batch: dict) -> torch.Tensor:
        """(B, dim): the shared representation both heads read."""
        seqs, lens = zip(*(enc(batch) for enc in self.encoders))
        seqs, lens = list(seqs), list(lens)
        if self.coattn is not None:
            seqs = self.coattn(seqs, lens)
        pooled = [pool(x, n) for pool, x, n in zip(self.pools, seqs, lens)]
        return self.fusion(torch.cat(pooled, dim=1))

    def outputs(self, batch: dict) -> dict:
        z = self.fused(batch)
        return {task: head(z) for task, head in self.heads.items()}

    def task_losses(self, out: dict, batch: dict) -> dict:
        losses = {}
        if "cls" in out:
            if "emo" not in batch:
                raise SerError("task 'cls' needs emotion labels (utt2emo) in the data dir")
            losses["cls"] = nn.functional.cross_entropy(out["cls"], batch["emo"], weight=self.class_weight)
        if "reg" in out:
            if "vad" not in batch:
                raise SerError("task 'reg' needs valence/arousal/dominance targets (utt2vad) in the data dir")
            losses["reg"] = self.reg_loss(out["reg"], batch["vad"].to(out["reg"].dtype))
        return losses

    def joint_loss(self, losses: dict) -> torch.Tensor:
        if self.weighting is None:
            return losses[self.tasks[0]]
        shared = [self.fusion[0].weight] if self.weighting_name == "gradnorm" else None
        return self.weighting.combine(losses, shared_params=shared)

    # ---- trainer interface ---------------------------------------------------------------------
    def forward(self, batch: dict) -> dict:
        losses = self.task_losses(self.outputs(batch), batch)
        weights = self.weighting.current() if self.weighting is not None else {}
        loss = self.joint_loss(losses)  # GradNorm updates its weights here, for the next step
        logs = {f"loss_{t}": float(v.detach()) for t, v in losses.items()}
        logs.update({k: v for k, v in weights.items() if k.startswith("w_")})
        return {"loss": loss, "logs": logs}

    def predict(self, batch: dict) -> dict:
        out = self.outputs(batch)
        pred = {}
        if "cls" in out:
            pred["emo_logits"] = out["cls"]
        if "reg" in out:
            pred["vad"] = out["reg"]
        if ("cls" not in out or "emo" in batch) and ("reg" not in out or "vad" in batch):
            pred["loss"] = self.joint_loss(self.task_losses(out, batch))
        return pred

    def on_epoch_start(self, epoch: int, history: list) -> None:
        if self.weighting is not None:
            self.weighting.on_epoch_start(epoch, history)
            log.info("epoch %d: task weights %s (%s)", epoch, self.weighting.current(), self.weighting_name)

    def epoch_logs(self) -> dict:
        logs = dict(self.weighting.current()) if self.weighting is not None else {}
        for enc in self.encoders:
            if enc.kind == "ssl":
                logs[f"layer_weights_{enc.name}"] = [round(w, 3) for w in enc.layer_sum.layer_weights()]
        return logs
