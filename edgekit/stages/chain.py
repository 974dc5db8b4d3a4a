"""Compression stages between the teacher and export, validated as a chain before any work starts."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.registry import Registry
from edgekit.models.checkpoint import ModelDescription


@dataclass
class ChainState:
    """What flows from stage to stage: the model being compressed and how it got there."""

    model: torch.nn.Module
    description: ModelDescription
    teacher: torch.nn.Module
    precision: str = "fp32"
    quantized: torch.nn.Module | None = None  # the integer model the int8 stage deploys in place of `model`
    applied: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StageSpec:
    """A compression stage: when it runs, which stages may precede it, and where its code lives."""

    name: str
    enabled: Callable  # (recipe) -> bool
    may_follow: tuple[str, ...]
    runner: str  # "module:function" taking (state, recipe, data) and returning metrics


STAGES: Registry[StageSpec] = Registry("stage")


def _pruning(recipe) -> bool:
    return recipe.prune > 0 or bool(getattr(recipe, "prune_target", None))


def _trainable(recipe) -> bool:
    """Whether recovery training is possible: there are epochs and the data has labels (synthetic has none)."""
    return recipe.epochs > 0 and not recipe.synthetic_data()


def _kd_enabled(recipe) -> bool:
    """After pruning: --kd explicitly, or by default when it can train (QAT distils on its own)."""
    return _pruning(recipe) and (bool(recipe.kd) if recipe.kd is not None else _trainable(recipe))


# each stage names the stages it may follow; `planned` orders the enabled ones accordingly
STAGES.add("prune", StageSpec("prune", _pruning, may_follow=("teacher",), runner="edgekit.stages.prune:run_prune"))
STAGES.add("kd", StageSpec("kd", _kd_enabled, may_follow=("prune",), runner="edgekit.stages.distill:run_kd"))
STAGES.add("finetune", StageSpec("finetune", lambda r: _pruning(r) and r.kd is False and _trainable(r),
                                  may_follow=("prune",), runner="edgekit.stages.distill:run_finetune"))
STAGES.add("int8", StageSpec("int8", lambda r: bool(r.int8), may_follow=("teacher", "prune", "kd", "finetune"),
                            runner="edgekit.stages.quantize:run_int8"))


def planned(recipe) -> list[StageSpec]:
    """The enabled stages, each placed after a stage it may follow; raises when no valid order exists."""
    remaining = [spec for _, spec in STAGES.items() if spec.enabled(recipe)]
    chain, previous = [], "teacher"
    while remaining:
        nxt = next((spec for spec in remaining if previous in spec.may_follow), None)
        if nxt is None:
            spec = remaining[0]
            raise EdgekitError(f"stage '{spec.name}' cannot follow '{previous}' "
                               f"(it needs one of: {', '.join(spec.may_follow)} before it)")
        chain.append(nxt)
        remaining.remove(nxt)
        previous = nxt.name
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
