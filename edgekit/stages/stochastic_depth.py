"""Stochastic depth whose per-sample draws are keyed by (seed, step, layer, position in the global batch).

timm's DropPath draws its masks from the process's torch RNG, so under torchrun each rank would drop other
blocks than one process does for the same images. While training, the trainer swaps every DropPath for a
`KeyedDropPath` with the same rate and tells it, before each forward, the step and the global-batch positions of
the images: N processes then drop exactly what one process drops, and a resumed run what the uninterrupted one
did. The originals are put back afterwards (the eval graph never contained either).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from timm.layers import DropPath

from edgekit.data.augment import item_keys

_DRAW: dict = {"key": None, "positions": None}


class KeyedDropPath(torch.nn.Module):
    """DropPath(drop_prob) with its keep/drop draw per sample from the current (key, position)."""

    def __init__(self, drop_prob: float, slot: int, scale_by_keep: bool = True):
        super().__init__()
        self.drop_prob, self.slot, self.scale_by_keep = drop_prob, slot, scale_by_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0 or _DRAW["key"] is None:
            return x
        keep = 1 - self.drop_prob
        seed, step = _DRAW["key"]
        draws = item_keys(seed, step * 65536 + self.slot, _DRAW["positions"]) / float(2 ** 63)
        mask = torch.from_numpy(draws < keep).to(x.device, x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return x * (mask / keep if self.scale_by_keep else mask)


@contextlib.contextmanager
def keyed(model: torch.nn.Module) -> Iterator[int]:
    """Swap the model's DropPath modules for keyed ones for the block; yields how many there are."""
    swapped = []
    for slot, (name, module) in enumerate((n, m) for n, m in model.named_modules() if isinstance(m, DropPath)):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, KeyedDropPath(module.drop_prob, slot, getattr(module, "scale_by_keep", True)))
        swapped.append((parent, child, module))
    try:
        yield len(swapped)
    finally:
        for parent, child, module in swapped:
            setattr(parent, child, module)


@contextlib.contextmanager
def drawing(seed: int, step: int, positions: list[int]) -> Iterator[None]:
    """The forwards of the block draw for update `step` and these global-batch positions."""
    _DRAW.update(key=(seed, step), positions=np.asarray(positions))
    try:
        yield
    finally:
        _DRAW.update(key=None, positions=None)
