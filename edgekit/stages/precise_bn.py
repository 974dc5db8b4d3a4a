"""Precise BatchNorm statistics: recompute every BatchNorm's running mean and variance with the weights as they
are, as a plain average over many training batches (Wu & Johnson, 2021, "Rethinking 'Batch' in BatchNorm",
arXiv:2105.07576, section 3; pycls' and Detectron2's PreciseBN).

The running statistics BatchNorm keeps while training are an exponential average of the last ~10 batches, taken
while the weights still moved. Most networks barely notice; input-adaptive ones do: DynamicConv's per-image kernel
mixing amplifies a small error in one layer's statistics in the next, and a DY-MobileNetV3-Small that reaches 42%
top-1 in training mode scored 9% in eval mode before recalibration, 50% after it (docs/training.md).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch.nn.modules.batchnorm import _BatchNorm


def batch_norms(model: torch.nn.Module) -> list[_BatchNorm]:
    """The BatchNorms of `model` that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace the running statistics of every BatchNorm of `model` by their average over `batches`; returns the
    number of images seen (0 leaves the model as it was, as does a model without BatchNorms).

    Everything but the BatchNorms runs in eval mode (no dropout, DynamicConv's final temperature, SkipNet's hard
    gates): the statistics are those of the network validation and export see. Draws nothing from the torch RNG,
    and the model's modes are restored."""
    norms = batch_norms(model)
    if not norms:
        return 0
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in norms]
    modes = {m: m.training for m in model.modules()}
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch weighs the same
    seen = 0
    model.eval()
    for norm in norms:
        norm.train()
    try:
        with torch.random.fork_rng(devices=[]):
            for images in batches:
                model(images)
                seen += len(images)
    finally:
        for norm, (momentum, mean, var, tracked) in zip(norms, saved):
            norm.momentum = momentum
            if not seen:
                norm.running_mean.copy_(mean)
                norm.running_var.copy_(var)
                norm.num_batches_tracked.copy_(tracked)
        for module, training in modes.items():
            module.training = training
    return seen
