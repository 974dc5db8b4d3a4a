"""Pruning targets: find the channel ratio that brings MACs or measured latency to a fraction of the original."""

from __future__ import annotations

import copy
from typing import Callable

import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.options import parse_prune_target
from edgekit.pruning.engine import MAX_RATIO, PruneConfig, prune


def parse_target(text: str) -> tuple[str, float]:
    """'macs=0.5' -> ('macs', 0.5); one-line error otherwise (the options schema's rule)."""
    try:
        return parse_prune_target(text)
    except ValueError as exc:
        raise EdgekitError(str(exc)) from None


def search_ratio(model: torch.nn.Module, config: PruneConfig, example: torch.Tensor,
                 measure: Callable[[torch.nn.Module], float] | None, target: float, what: str,
                 iterations: int = 6, on_probe: Callable[[float, float], None] | None = None,
                 fraction: Callable[[torch.nn.Module], float] | None = None) -> tuple[float, list]:
    """Smallest ratio (to ~1/2**iterations) whose one-shot pruned copy has measure/base <= target.

    `fraction(candidate)`, when given, measures candidate/base itself (e.g. both timed interleaved on a device)
    instead of `measure(candidate) / measure(model)`. Raises, saying how far it got, when even the largest ratio
    does not reach the target.
    """
    if fraction is None:
        base = measure(model)
        fraction = lambda candidate: measure(candidate) / base  # noqa: E731
    probes = []

    def fraction_at(ratio: float) -> float:
        candidate = copy.deepcopy(model)
        prune(candidate, PruneConfig(**{**vars(config), "ratio": ratio, "steps": 1}), example)
        value = fraction(candidate)
        probes.append({"ratio": round(ratio, 4), what: round(value, 4)})
        if on_probe is not None:
            on_probe(ratio, value)
        return value

    best = fraction_at(MAX_RATIO)
    if best > target:
        raise EdgekitError(f"--prune-target {what}={target} cannot be reached: at the largest ratio ({MAX_RATIO}) "
                           f"{what} is {best:.3f}x the original (kept layers limit it; see --prune-ignore)")
    lo, hi = 0.0, MAX_RATIO
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if fraction_at(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi, probes
