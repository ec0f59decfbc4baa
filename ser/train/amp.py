"""Mixed precision for the trainer (train.amp): torch.autocast, and a GradScaler for fp16.

none  full precision (the default)
bf16  bfloat16 autocast; its float32 exponent range needs no loss scaling
fp16  float16 autocast with a GradScaler (fp16 gradients underflow without it)
auto  bf16 on a GPU that supports it, else fp16 + scaler on CUDA; full precision on the CPU
"""

import contextlib

import torch

from ser.utils import SerError

MODES = ("none", "auto", "bf16", "fp16")


def resolve(mode: str, device: torch.device) -> str:
    """The precision `mode` means on `device`: none, bf16 or fp16."""
    if mode not in MODES:
        raise SerError(f"train.amp '{mode}' unknown ({', '.join(MODES)})")
    if mode == "auto":
        if device.type != "cuda":
            return "none"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if mode == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise SerError("train.amp=bf16, but this GPU has no bfloat16 support; use fp16 or auto")
    return mode


class Amp:
    """Autocast for forward passes, and backward/step through a GradScaler when fp16 needs one."""

    def __init__(self, mode: str, device: torch.device):
        self.mode = resolve(mode, device)
        self.device_type = device.type
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mode)
        self.scaler = torch.amp.GradScaler(device.type) if self.mode == "fp16" else None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optim) -> None:
        """Before clipping: the gradients in their true scale."""
        if self.scaler:
            self.scaler.unscale_(optim)

    def step(self, optim) -> None:
        """An optimiser step; with a scaler, skipped when the gradients overflowed (the scale drops)."""
        if self.scaler:
            self.scaler.step(optim)
            self.scaler.update()
        else:
            optim.step()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)
