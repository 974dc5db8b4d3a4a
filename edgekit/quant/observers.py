"""Activation observers edgekit adds to torchao's: the range of a typical calibration batch, not of the rarest image."""

from __future__ import annotations

import torch
from torchao.quantization.pt2e import MovingAverageMinMaxObserver


class BatchMeanMinMaxObserver(MovingAverageMinMaxObserver):
    """The mean, over calibration batches, of each batch's min and max.

    Min/max and histogram observers size a tensor's range for its most extreme calibration image. Input-adaptive
    layers (DynamicConv) give a few images activations 50-100x the typical ones; one static per-tensor range that
    covers them leaves the other images a handful of int8 steps. Averaging each batch's extremes keeps those few
    images clipped and everyone else resolved. The range grows with the batch size (a batch's extremes do).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches = 0

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0:
            return x_orig
        self.batches += 1
        self.averaging_constant = 1.0 / self.batches  # the running mean (the first batch sets the range)
        return super().forward(x_orig)
