"""Compression stages between the teacher and export, validated as a chain before any work starts."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from edgekit.errors import EdgekitError
from edgekit.models.checkpoint import ModelDescription
from edgekit.registry import Registry


@dataclass
class ChainState:
    """What flows from stage to stage: the model being compressed and how it got there."""

    model: torch.nn.Module
    description: ModelDescription
    teacher: torch.nn.Module
    precision: str = "fp32"
    applied: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StageSpec:
    """A compression stage: when it runs, which stages may precede it, and where its code lives."""

    name: str
    enabled: Callable  # (recipe) -> bool
    may_follow: tuple[str, ...]
    runner: str  # "module:function" taking (state, recipe, data) and returning metrics


STAGES: Registry[StageSpec] = Registry("stage")


def planned(recipe) -> list[StageSpec]:
    """The enabled stages in registry order; raises when one may not follow its predecessor."""
    chain = [spec for _, spec in STAGES.items() if spec.enabled(recipe)]
    previous = "teacher"
    for spec in chain:
        if previous not in spec.may_follow:
            raise EdgekitError(f"stage '{spec.name}' cannot follow '{previous}' (allowed after: {', '.join(spec.may_follow)})")
        previous = spec.name
    return chain


def run_chain(state: ChainState, recipe, data, clock) -> ChainState:
    """Run each planned stage in order, recording its time and metrics."""
    for spec in planned(recipe):
        module_name, func_name = spec.runner.split(":")
        start = time.perf_counter()
        metrics = getattr(importlib.import_module(module_name), func_name)(state, recipe, data)
        state.applied.append(spec.name)
        clock.add(spec.name, time.perf_counter() - start, metrics)
    return state
