"""Parameter and multiply-accumulate counts."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


#: torch's flop counter has no formula for the CPU kernel of scaled_dot_product_attention (it counted 0, so the
#: attention of timm ViTs was missing from MACs on the CPU): the same count as its CUDA kernels
CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, img_size: int) -> int:
    """MACs of one forward pass at `img_size` (FLOPs / 2, convolutions, matmuls and attention)."""
    device = next(model.parameters()).device
    x = torch.zeros(1, 3, img_size, img_size, device=device)
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops() // 2)
