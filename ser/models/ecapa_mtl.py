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
from ser.nn.pooling import lengths_to_mask
from ser.utils import SerError

def utterance_cmvn(x, lens, variance: bool = True):
    """Per-utterance mean (and variance) normalisation of (B, F, T) over each one's real frames."""
    mask = lengths_to_mask(lens, x.shape[-1]).unsqueeze(1).to(x.dtype)
    n = mask.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (x * mask).sum(-1, keepdim=True) / n
    x = x - mean
    if variance:
        std = ((x * x * mask).sum(-1, keepdim=True) / n).clamp(min=1e-5).sqrt()
        x = x / std
    return x * mask


def trim_silence(x, lens, below_peak: float, margin: int):
    """Crops (B, T, F) log-mel to the span from the first to the last frame whose loudest bin is
    within `below_peak` (natural-log units; 8 is about 35 dB) of the utterance's loudest frame, plus
    `margin` frames each side. Uses only the utterance itself; returns the re-padded batch, lengths."""
    peak = x.max(dim=2).values  # (B, T)
    spans = []
    for i, n in enumerate(lens.tolist()):
        loud = torch.nonzero(peak[i, :n] > peak[i, :n].max() - below_peak).flatten()
        lo, hi = max(0, int(loud[0]) - margin), min(n, int(loud[-1]) + 1 + margin)
        spans.append((lo, hi))
    new_lens = torch.tensor([hi - lo for lo, hi in spans], dtype=lens.dtype, device=lens.device)
    out = x.new_zeros(x.shape[0], int(new_lens.max()), x.shape[2])
    for i, (lo, hi) in enumerate(spans):
        out[i, : hi - lo] = x[i, lo:hi]
    return out, new_lens


class FreqConvStem(nn.Module):
    """2-D convolutions over (frequency, time) before the TDNN, as in ECAPA-CNN-TDNN (Thienpondt et
    al. 2021): a pitch or formant shift moves a pattern along the mel axis, which a 2-D kernel
    follows and a TDNN (mel bins as channels) does not. (B, F, T) -> (B, channels * ceil(F/4), T').
    Time is strided by `time_stride` in the first layer, frequency by 2 in the first and last."""

    def __init__(self, n_mels: int, channels: int, time_stride: int):
        super().__init__()
        self.time_stride = time_stride
        self.conv_in = nn.Conv2d(1, channels, 3, stride=(2, time_stride), padding=1)
        self.bn_in = nn.BatchNorm2d(channels)
        self.res1, self.res_bn1 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.res2, self.res_bn2 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.conv_out = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1)
        self.bn_out = nn.BatchNorm2d(channels)
        self.out_dim = channels * (((n_mels + 1) // 2 + 1) // 2)

    def forward(self, x, frames):
        frames = torch.div(frames - 1, self.time_stride, rounding_mode="floor") + 1
        x = self.bn_in(torch.relu(self.conv_in(x.unsqueeze(1))))
        mask = lengths_to_mask(frames, x.shape[-1])[:, None, None, :].to(x.dtype)
        x = x * mask
        y = self.res_bn1(torch.relu(self.res1(x))) * mask
        x = torch.relu(x + self.res_bn2(self.res2(y))) * mask
        x = self.bn_out(torch.relu(self.conv_out(x))) * mask
        return x.flatten(1, 2), frames


class SEBlock(nn.Module):
    def __init__(self, channels: int, bottleneck: int = 64):
        super().__init__()
        self.fc = nn.Sequential(nn.Conv1d(channels, bottleneck, 1), nn.ReLU(), nn.Conv1d(bottleneck, channels, 1),
                                nn.Sigmoid())

    def forward(self, x, mask):
        s = (x * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1.0)
        return x * self.fc(s)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, kernel=1, dilation=1):
        super().__init__(nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2),
                         nn.ReLU(), nn.BatchNorm1d(cout))


class SERes2Block(nn.Module):
    """1x1 conv -> Res2 (scale groups, each a dilated conv fed by the previous one) -> 1x1 conv -> SE, + skip."""

    def __init__(self, channels: int, kernel: int = 3, dilation: int = 2, scale: int = 4, se_dim: int = 64):
        super().__init__()
        if channels % scale:
            raise SerError(f"ecapa: channels {channels} must be a multiple of res2_scale {scale}")
        width = channels // scale
        self.scale = scale
        self.conv_in = ConvBNReLU(channels, channels)
        self.convs = nn.ModuleList(ConvBNReLU(width, width, kernel, dilation) for _ in range(scale - 1))
        self.conv_out = ConvBNReLU(channels, channels)
        self.se = SEBlock(channels, se_dim)

    def forward(self, x, mask):
        # Padding is zeroed after every conv so that no real frame sees a padded one: a prediction
        # does not depend on which other utterances share its batch.
        y = self.conv_in(x) * mask
        parts = torch.chunk(y, self.scale, dim=1)
        outs, prev = [], None
        for i, part in enumerate(parts):
            if i == 0:
                outs.append(part)  # the first group passes through unchanged, as in Res2Net
                continue
            prev = self.convs[i - 1](part if prev is None else part + prev) * mask
            outs.append(prev)
        y = self.se(self.conv_out(torch.cat(outs, dim=1)), mask)
        return (x + y) * mask


class AttentiveStatsPool(nn.Module):
    """Channel- and context-dependent attentive statistics pooling (ECAPA): weighted mean and std."""

    def __init__(self, channels: int, attn_dim: int = 128):
        super().__init__()
        self.attn = nn.Sequential(nn.Conv1d(channels * 3, attn_dim, 1), nn.ReLU(), nn.BatchNorm1d(attn_dim),
                                  nn.Tanh(), nn.Conv1d(attn_dim, channels, 1))

    def forward(self, x, mask):
        n = mask.sum(-1, keepdim=True).clamp(min=1.0)
        mean = (x * mask).sum(-1, keepdim=True) / n
        std = (((x - mean) ** 2 * mask).sum(-1, keepdim=True) / n).clamp(min=1e-5).sqrt()
        ctx = torch.cat([x, mean.expand_as(x), std.expand_as(x)], dim=1)
        w = torch.softmax(self.attn(ctx).masked_fill(mask == 0, float("-inf")), dim=-1)
        mu = (w * x).sum(-1)
        sg = ((w * x * x).sum(-1) - mu * mu).clamp(min=1e-5).sqrt()
        return torch.cat([mu, sg], dim=1)


class EcapaMTL(nn.Module):
    def __init__(self, info: dict, feat: str = "fbank", channels: int = 128, blocks: int = 3, res2_scale: int = 4,
                 mfa_dim: int = 384, emb_dim: int = 128, stem_stride: int = 3, norm: str = "utt",
                 trim_below_peak: float = 8.0, trim_margin: int = 10, cnn_channels: int = 0,
                 dropout: float = 0.3, gender_weight: float = 0.3, label_smoothing: float = 0.0,
                 speed_factors=(0.9, 1.0, 1.1), spec_freq_masks: int = 2, spec_freq_width: int = 10,
                 spec_time_masks: int = 2, spec_time_width: int = 40, mixup_alpha: float = 0.2,
                 tta_speeds=()):
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
                n_time_masks=spec_time_masks, time_mask_param=spec_time_width, n_freq_masks=spec_freq_masks,
                freq_mask_param=spec_freq_width, iid_masks=True, zero_masking=True)
        self.input_bn = nn.BatchNorm1d(n_mels) if norm == "batch" else None
        # With the 2-D stem (cnn_channels > 0) the time stride happens there, else in the Conv1d stem.
        self.cnn = FreqConvStem(n_mels, cnn_channels, stem_stride) if cnn_channels > 0 else None
        self.stride = 1 if self.cnn is not None else stem_stride
        stem_in = self.cnn.out_dim if self.cnn is not None else n_mels
        self.stem = nn.Sequential(nn.Conv1d(stem_in, channels, 5, stride=self.stride, padding=2), nn.ReLU(),
                                  nn.BatchNorm1d(channels))
        self.blocks = nn.ModuleList(SERes2Block(channels, 3, d, res2_scale) for d in range(2, 2 + blocks))
        self.mfa = ConvBNReLU(channels * blocks, mfa_dim)
        self.pool = AttentiveStatsPool(mfa_dim)
        self.emb = nn.Sequential(nn.BatchNorm1d(2 * mfa_dim), nn.Linear(2 * mfa_dim, emb_dim), nn.ReLU(),
                                 nn.BatchNorm1d(emb_dim), nn.Dropout(dropout))
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
        emo_loss = mixed_cross_entropy(self.emo_head(emb), batch["emo"], lam, perm,
                                       label_smoothing=self.label_smoothing)
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
            probs = [torch.softmax(self.emo_head(self.encode(*self.features(batch, speed=a))), dim=1)
                     for a in self.tta_speeds]
            out = {"emo_logits": torch.log(torch.stack(probs).mean(0).clamp_min(1e-12))}
        if "emo" in batch:
            out["loss"] = nn.functional.cross_entropy(out["emo_logits"], batch["emo"])
        return out
