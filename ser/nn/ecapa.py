"""ECAPA-TDNN building blocks (Desplanques et al. 2020; the 2-D stem of ECAPA-CNN-TDNN, Thienpondt
et al. 2021): squeeze-excitation Res2Net blocks over (B, C, T), attentive statistics pooling, and the
silence trim applied to log-mel before them. ser.models.ecapa_mtl assembles them."""

import torch
from torch import nn

from ser.nn.pooling import lengths_to_mask
from ser.utils import SerError


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
        self.fc = nn.Sequential(
            nn.Conv1d(channels, bottleneck, 1), nn.ReLU(), nn.Conv1d(bottleneck, channels, 1), nn.Sigmoid()
        )

    def forward(self, x, mask):
        s = (x * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1.0)
        return x * self.fc(s)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, kernel=1, dilation=1):
        super().__init__(
            nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2),
            nn.ReLU(),
            nn.BatchNorm1d(cout),
        )


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
        self.attn = nn.Sequential(
            nn.Conv1d(channels * 3, attn_dim, 1),
            nn.ReLU(),
            nn.BatchNorm1d(attn_dim),
            nn.Tanh(),
            nn.Conv1d(attn_dim, channels, 1),
        )

    def forward(self, x, mask):
        n = mask.sum(-1, keepdim=True).clamp(min=1.0)
        mean = (x * mask).sum(-1, keepdim=True) / n
        std = (((x - mean) ** 2 * mask).sum(-1, keepdim=True) / n).clamp(min=1e-5).sqrt()
        ctx = torch.cat([x, mean.expand_as(x), std.expand_as(x)], dim=1)
        w = torch.softmax(self.attn(ctx).masked_fill(mask == 0, float("-inf")), dim=-1)
        mu = (w * x).sum(-1)
        sg = ((w * x * x).sum(-1) - mu * mu).clamp(min=1e-5).sqrt()
        return torch.cat([mu, sg], dim=1)
