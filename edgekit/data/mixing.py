"""MixUp and CutMix over the global batch, planned from a key: the same under DDP, one process or a resumed run.

timm's `Mixup` pairs each image with its mirror in the local batch and draws from numpy's global RNG, so under
DDP every rank would mix only its own shard, and a resumed run would draw differently. A `MixPlan` is drawn from
(seed, epoch, step) alone and pairs positions of the global batch: a rank fetches, for its positions P, the
images of global_batch[P] and of their partners global_batch[partner[P]], and mixes them with the batch's one
lam (and CutMix box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from edgekit.core.errors import EdgekitError

_STREAM = 0x6D6978  # keeps the mixing draws apart from any other use of the same (seed, epoch, step)


@dataclass(frozen=True)
class MixConfig:
    """Mixing settings: Beta(α, α) for MixUp and CutMix (0 turns one off), the probability that a batch is
    mixed, and the probability of CutMix rather than MixUp when both are on."""

    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5

    def __post_init__(self):
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise EdgekitError(f"mixup/cutmix alpha must be >= 0, got {self.mixup_alpha}/{self.cutmix_alpha}")
        if not 0 <= self.prob <= 1 or not 0 <= self.switch_prob <= 1:
            raise EdgekitError(f"mix prob {self.prob} and switch_prob {self.switch_prob} must be within [0, 1]")

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


@dataclass(frozen=True)
class MixPlan:
    """How one global batch is mixed: position p takes lam of its own image and label and 1 - lam of
    position partner[p]'s, blended (MixUp) or with the partner's pixels inside `box` (CutMix)."""

    partner: tuple[int, ...]
    lam: float
    box: tuple[int, int, int, int] | None = None  # CutMix (y0, y1, x0, x1) in pixels; None for MixUp

    def partners(self, positions: list[int]) -> list[int]:
        """The global-batch positions mixed into `positions` (a rank's shard)."""
        return [self.partner[p] for p in positions]


def plan(config: MixConfig, global_batch_size: int, key: tuple[int, ...],
         image_size: tuple[int, int]) -> MixPlan | None:
    """The mixing of the global batch `key` = (seed, epoch, step) names (images of `image_size` H×W); None when
    it is not mixed.

    Every draw comes from a generator seeded by the key, always in the same order. Partners form one random
    cycle over the batch (nobody mixes with itself). CutMix's lam is corrected to the clipped box's area.
    """
    rng = np.random.default_rng([_STREAM, *key])
    mixed, cutmix_draw, order = rng.random(), rng.random(), rng.permutation(global_batch_size)
    if not config.enabled or mixed >= config.prob:
        return None
    partner = np.empty(global_batch_size, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    cutmix = config.cutmix_alpha > 0 and (config.mixup_alpha == 0 or cutmix_draw < config.switch_prob)
    alpha = config.cutmix_alpha if cutmix else config.mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    if not cutmix:
        return MixPlan(tuple(partner.tolist()), lam)
    box = _box(lam, image_size, rng)
    height, width = image_size
    lam = 1.0 - (box[1] - box[0]) * (box[3] - box[2]) / (height * width)
    return MixPlan(tuple(partner.tolist()), lam, box)


def _box(lam: float, image_size: tuple[int, int], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A box of about (1 - lam) of the area around a uniform random centre, clipped to the image."""
    height, width = image_size
    side = math.sqrt(1.0 - lam)
    half_h, half_w = int(height * side) // 2, int(width * side) // 2
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    return max(cy - half_h, 0), min(cy + half_h, height), max(cx - half_w, 0), min(cx + half_w, width)


def mix(images: torch.Tensor, partner_images: torch.Tensor, plan: MixPlan) -> torch.Tensor:
    """The mixed images (N×C×H×W) of `images` and their partners' images, row for row."""
    if plan.box is None:
        return images * plan.lam + partner_images * (1.0 - plan.lam)
    y0, y1, x0, x1 = plan.box
    out = images.clone()
    out[..., y0:y1, x0:x1] = partner_images[..., y0:y1, x0:x1]
    return out


def soft_targets(labels: torch.Tensor, partner_labels: torch.Tensor, lam: float, num_classes: int,
                 smoothing: float = 0.0) -> torch.Tensor:
    """N×C float targets: lam × the label's and (1 - lam) × the partner's smoothed one-hot (each row sums to 1)."""
    off = smoothing / num_classes

    def smoothed(target: torch.Tensor) -> torch.Tensor:
        one_hot = torch.full((len(target), num_classes), off, device=target.device)
        return one_hot.scatter_(1, target.long().view(-1, 1), 1.0 - smoothing + off)

    return smoothed(labels) * lam + smoothed(partner_labels) * (1.0 - lam)
