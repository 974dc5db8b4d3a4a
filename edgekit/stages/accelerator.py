"""Where training runs and in which precision: `--train-device auto|cpu|cuda`, `--train-precision`."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from edgekit.core.errors import EdgekitError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Accelerator:
    """The training device, the autocast precision (None: fp32) and whether fp16 gradients are scaled."""

    device: torch.device
    precision: str  # fp32, bf16 or fp16

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """The forward's autocast context (a no-op in fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only (bf16 keeps fp32's exponent range)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def describe(self) -> str:
        where = f"{self.device} ({torch.cuda.get_device_name(self.device)})" if self.cuda else "CPU"
        return f"{where}, {self.precision}"


def select(device: str = "auto", precision: str = "auto") -> Accelerator:
    """Resolve `--train-device` and `--train-precision` on this machine.

    auto device: CUDA when torch sees a GPU (under torchrun each rank takes LOCAL_RANK's GPU), else the CPU.
    auto precision: bf16 on GPUs that support it, else fp16 with a grad scaler; fp32 on CPUs, where bf16 autocast
    measured 2x slower than fp32 for the depthwise CNNs even with AMX (ResNet-18 1.6x faster: pass bf16 for dense
    CNNs; benchmarks/train_precision.py).
    """
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise EdgekitError("--train-device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                           "use --train-device cpu or auto")
    use_cuda = device == "cuda" or (device == "auto" and has_cuda)
    target = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if use_cuda else torch.device("cpu")
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if use_cuda else "fp32"
    if precision == "fp16" and not use_cuda:
        raise EdgekitError("--train-precision fp16 needs a CUDA GPU (CPUs autocast to bf16): use bf16 or fp32")
    if precision == "bf16" and not use_cuda and not cpu_has_bf16():
        raise EdgekitError("--train-precision bf16: this CPU has no bf16 instructions (avx512_bf16, amx_bf16); "
                           "bf16 would be emulated and slow: use fp32")
    return Accelerator(target, precision)


def cpu_has_bf16() -> bool:
    """The CPU has native bf16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
