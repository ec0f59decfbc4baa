"""A compact ECAPA-TDNN (Desplanques et al. 2020) for emotion, trained from scratch on log-mel, with
an auxiliary gender head (multi-task) and on-the-fly augmentation.

Dumped log-mel (B, T, F) -> leading/trailing silence cut -> [train: speed perturbation]
-> normalisation -> [train: SpecAugment, mixup]
-> Conv1d stem (strided) -> SE-Res2 blocks (dilations 2, 3, 4, ...) -> multi-layer feature
aggregation -> attentive statistics pooling -> embedding -> emotion logits (+ gender logits,
weighted by `gender_weight`; 0 turns the gender task off).

Normalisation is per utterance (`norm: utt` mean and variance, `utt_mean` mean only; both use only
the utterance itself) or an input BatchNorm (`norm: batch`) whose running statistics come from the
training batches only; no statistic of a test speaker is ever used.
"""

import torch
import torchaudio
from torch import nn

from ser.augment.mixup import mix, mixed_cross_entropy, mixup_pairs
from ser.augment.speed import LogMelSpeedPerturb
from ser.nn.ecapa import AttentiveStatsPool, ConvBNReLU, FreqConvStem, SERes2Block, trim_silence
from ser.nn.pooling import lengths_to_mask, utterance_cmvn
from ser.utils import SerError


class EcapaMTL(nn.Module):
    def __init__(
        self,
        info: dict,
        feat: str = "fbank",
        channels: int = 128,
        blocks: int = 3,
        res2_scale: int = 4,
        mfa_dim: int = 384,
        emb_dim: int = 128,
        stem_stride: int = 3,
        norm: str = "utt",
        trim_below_peak: float = 8.0,
        trim_margin: int = 10,
        cnn_channels: int = 0,
        dropout: float = 0.3,
        gender_weight: float = 0.3,
        label_smoothing: float = 0.0,
        speed_factors=(0.9, 1.0, 1.1),
        spec_freq_masks: int = 2,
        spec_freq_width: int = 10,
        spec_time_masks: int = 2,
        spec_time_width: int = 40,
        mixup_alpha: float = 0.2,
        tta_speeds=(),
    ):
        super().__init__()
        if any(a <= 0 for a in tta_speeds):
            raise SerError(f"ecapa: tta_speeds must be positive, got {list(tta_speeds)}")
        # Test-time augmentation: predictions average the posteriors at these speeds (empty: as is).
        self.tta_speeds = tuple(float(a) for a in tta_speeds)
        if norm not in ("utt", "utt_mean", "batch"):
            raise SerError(f"ecapa: norm '{norm}' unknown (utt, utt_mean, batch)")
        self.norm = norm
        self.trim_below_peak, self.trim_margin = trim_below_peak, trim_margin
        self.gender_weight = gender_weight
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
        self.feat = feat
        if feat not in info["feats"]:
            raise SerError(f"ecapa_mtl: feature '{feat}' is not in data.feats {sorted(info['feats'])}")
        n_mels = info["feats"][feat]["dim"]
        self.speed = LogMelSpeedPerturb(speed_factors) if speed_factors and len(speed_factors) > 1 else None
        self.specaug = None
        if spec_freq_masks or spec_time_masks:
            # zero_masking: after normalisation zero is each bin's mean, so a mask carries no level cue.
            self.specaug = torchaudio.transforms.SpecAugment(
                n_time_masks=spec_time_masks,
                time_mask_param=spec_time_width,
                n_freq_masks=spec_freq_masks,
                freq_mask_param=spec_freq_width,
                iid_masks=True,
                zero_masking=True,
            )
        self.input_bn = nn.BatchNorm1d(n_mels) if norm == "batch" else None
        # With the 2-D stem (cnn_channels > 0) the time stride happens there, else in the Conv1d stem.
        self.cnn = FreqConvStem(n_mels, cnn_channels, stem_stride) if cnn_channels > 0 else None
        self.stride = 1 if self.cnn is not None else stem_stride
        stem_in = self.cnn.out_dim if self.cnn is not None else n_mels
        self.stem = nn.Sequential(
            nn.Conv1d(stem_in, channels, 5, stride=self.stride, padding=2), nn.ReLU(), nn.BatchNorm1d(channels)
        )
        self.blocks = nn.ModuleList(SERes2Block(channels, 3, d, res2_scale) for d in range(2, 2 + blocks))
        self.mfa = ConvBNReLU(channels * blocks, mfa_dim)
        self.pool = AttentiveStatsPool(mfa_dim)
        self.emb = nn.Sequential(
            nn.BatchNorm1d(2 * mfa_dim),
            nn.Linear(2 * mfa_dim, emb_dim),
            nn.ReLU(),
            nn.BatchNorm1d(emb_dim),
            nn.Dropout(dropout),
        )
        self.emo_head = nn.Linear(emb_dim, info["num_classes"])
        self.gender_head = nn.Linear(emb_dim, 2) if gender_weight > 0 else None

    def features(self, batch, speed: float | None = None):
        """(B, F, T) normalised log-mel and frame counts, with the train-time augmentation, or at the
        fixed `speed` (test-time augmentation)."""
        x, frames = batch[self.feat].float(), batch[f"{self.feat}_lens"]
        if self.trim_below_peak > 0:
            x, frames = trim_silence(x, frames, self.trim_below_peak, self.trim_margin)
        if speed is not None and speed != 1.0:
            x, frames = (self.speed or LogMelSpeedPerturb()).forward(x, frames, factor=speed)
        elif self.training and self.speed is not None:
            x, frames = self.speed(x, frames)
        x = x.transpose(1, 2)
        mask = lengths_to_mask(frames, x.shape[-1]).unsqueeze(1).to(x.dtype)
        if self.norm == "batch":
            x = self.input_bn(x) * mask
        else:
            x = utterance_cmvn(x, frames, variance=self.norm == "utt")
        if self.training and self.specaug is not None:
            x = self.specaug(x) * mask
        return x, frames

    def encode(self, x, frames):
        if self.cnn is not None:
            x, frames = self.cnn(x, frames)
        x = self.stem(x)
        frames = torch.div(frames - 1, self.stride, rounding_mode="floor") + 1
        mask = lengths_to_mask(frames, x.shape[-1]).unsqueeze(1).to(x.dtype)
        x = x * mask
        outs = []
        for block in self.blocks:
            x = block(x, mask)
            outs.append(x)
        x = self.mfa(torch.cat(outs, dim=1)) * mask
        return self.emb(self.pool(x, mask))

    def forward(self, batch):
        x, frames = self.features(batch)
        lam, perm = mixup_pairs(x.shape[0], self.mixup_alpha if self.training else 0.0)
        # Mixed pairs keep the longer one's frames: the shorter one's padding is zeros (its mean).
        x = mix(x, lam, perm)
        frames = torch.maximum(frames, frames[perm.to(frames.device)]) if lam != 1.0 else frames
        emb = self.encode(x, frames)
        emo_loss = mixed_cross_entropy(
            self.emo_head(emb), batch["emo"], lam, perm, label_smoothing=self.label_smoothing
        )
        loss, logs = emo_loss, {"emo_loss": float(emo_loss.detach())}
        if self.gender_head is not None and "gender" in batch and (batch["gender"] >= 0).any():
            g_loss = mixed_cross_entropy(self.gender_head(emb), batch["gender"], lam, perm, ignore_index=-1)
            loss = loss + self.gender_weight * g_loss
            logs["gender_loss"] = float(g_loss.detach())
        return {"loss": loss, "logs": logs}

    def predict(self, batch):
        if self.training or not self.tta_speeds:
            out = {"emo_logits": self.emo_head(self.encode(*self.features(batch)))}
        else:  # log of the mean posterior, so that a softmax downstream gives that mean
            probs = [
                torch.softmax(self.emo_head(self.encode(*self.features(batch, speed=a))), dim=1)
                for a in self.tta_speeds
            ]
            out = {"emo_logits": torch.log(torch.stack(probs).mean(0).clamp_min(1e-12))}
        if "emo" in batch:
            out["loss"] = nn.functional.cross_entropy(out["emo_logits"], batch["emo"])
        return out
