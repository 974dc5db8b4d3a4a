"""Progressive resizing as EfficientNetV2 trains: the image size and the augmentation magnitude grow together."""

from __future__ import annotations

import dataclasses
import math

from edgekit.core.errors import EdgekitError
from edgekit.data.augment import AugmentPolicy
from edgekit.models.build import MIN_IMG_SIZE


def stage_fraction(epoch: int, epochs: int, stages: int = 4) -> float:
    """How far `epoch`'s stage is from the first (0.0) to the last (1.0); the epochs split into `stages` equal
    runs (fewer when there are fewer epochs), so the last epochs always train at the final setting. The trainer
    grows mixup alpha and dropout by the same fraction."""
    stages = min(stages, epochs)
    if stages <= 1:
        return 1.0
    return min(stages - 1, epoch * stages // epochs) / (stages - 1)


def progressive_stage(epoch: int, epochs: int, final_size: int, start_fraction: float, multiple: int,
                      final_policy: AugmentPolicy, *, stages: int = 4,
                      start_magnitude: float = 1 / 3) -> tuple[int, AugmentPolicy]:
    """The train size and policy of `epoch`: the size grows linearly from `start_fraction` × `final_size` to
    `final_size` (rounded to `multiple`, never below the smallest size a model takes), and the magnitude of a
    timm auto-augment policy from `start_magnitude` × its own (EfficientNetV2-S: 5 of 15) to its own."""
    if not 0 < start_fraction <= 1 or not 0 <= start_magnitude <= 1:
        raise EdgekitError(f"progressive resizing start_fraction {start_fraction} must be within (0, 1] and "
                           f"start_magnitude {start_magnitude} within [0, 1]")
    if not 0 <= epoch < epochs or stages < 1 or multiple < 1:
        raise EdgekitError(f"progressive resizing: epoch {epoch} of {epochs}, {stages} stage(s), multiple {multiple}")
    fraction = stage_fraction(epoch, epochs, stages)
    size = stage_size(fraction, final_size, start_fraction, multiple)
    if not final_policy.scalable:
        return size, final_policy
    scale = final_policy.magnitude_scale * (start_magnitude + (1 - start_magnitude) * fraction)
    return size, dataclasses.replace(final_policy, magnitude_scale=scale)


def stage_size(fraction: float, final_size: int, start_fraction: float, multiple: int) -> int:
    """The train size `fraction` of the way from the first stage to the last (`stage_fraction`)."""
    smallest = multiple * math.ceil(MIN_IMG_SIZE / multiple)
    grown = final_size * (start_fraction + (1 - start_fraction) * fraction)
    return final_size if fraction == 1 else min(final_size, max(smallest, round(grown / multiple) * multiple))


def pixel_share(epochs: int, final_size: int, start_fraction: float | None, multiple: int = 1,
                stages: int = 4) -> float:
    """The mean share of the final size's pixels an epoch trains on (1.0 without progressive resizing): the plan's
    time estimate scales training by it, as compute grows with the pixels."""
    if not start_fraction or epochs < 1:
        return 1.0
    sizes = [stage_size(stage_fraction(e, epochs, stages), final_size, start_fraction, multiple) for e in range(epochs)]
    return sum((size / final_size) ** 2 for size in sizes) / epochs
