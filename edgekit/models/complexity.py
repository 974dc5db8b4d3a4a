"""Parameter and multiply-accumulate counts."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, img_size: int) -> int:
    """MACs of one forward pass at `img_size` (FLOPs / 2, convolutions, matmuls and attention)."""
    device = next(model.parameters()).device
    x = torch.zeros(1, 3, img_size, img_size, device=device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops() // 2)
