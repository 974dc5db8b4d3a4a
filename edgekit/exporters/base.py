"""Write a model in one format of the formats table (edgekit.core.formats)."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from edgekit.core.child import run_isolated
from edgekit.core.formats import FORMATS, FormatSpec
from edgekit.core.io import no_space_as_error

#: a converter still running after this long (hung in its child process) is stopped with a one-line error
EXPORT_TIMEOUT_S = 3600.0


@dataclass
class ExportResult:
    """What an exporter wrote and what it learnt about the file."""

    path: Path
    op_counts: dict[str, int] = field(default_factory=dict)
    fallback_ops: list[str] = field(default_factory=list)  # ops that miss the fast path (XNNPACK etc.)
    notes: list[str] = field(default_factory=list)


def export(fmt: str | FormatSpec, model: torch.nn.Module, example: torch.Tensor, path: Path,
           **options) -> ExportResult:
    """Export `model` (eval mode; FP32 or a PT2E int8 graph) traced with `example` (1×3×H×W) to `path`.

    `fmt` is a format name or row of the formats table; `options` are the format's own exporter keywords
    (e.g. tflite's `interface`). Formats marked `isolated` convert in a child process, so a converter that aborts,
    segfaults or runs out of memory raises one EdgekitError naming the format instead of ending edgekit. A full
    disk raises a one-line ResourceError.
    """
    spec = FORMATS.get(fmt) if isinstance(fmt, str) else fmt
    spec.check_installed()
    module_name, func_name = spec.exporter.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    path = Path(path)
    if not spec.isolated:
        return _write(func, model, example, path, options)
    sent = run_isolated(_write_sendable, what=f"{spec.name} export of '{path.name}'",
                        args=(func, model, example, path, options), on_start=_fresh_thread_pools,
                        writes=(path.parent, Path(tempfile.gettempdir())), timeout=EXPORT_TIMEOUT_S)
    return ExportResult(**{**sent, "path": Path(sent["path"])})


def _write(func: Callable[..., ExportResult], model: torch.nn.Module, example: torch.Tensor, path: Path,
           options: dict) -> ExportResult:
    with no_space_as_error(path):
        return func(model, example, path, **options)


def _write_sendable(*args) -> dict:
    """`_write` in the child: its ExportResult as plain data for the pipe."""
    result = _write(*args)
    return {**dataclasses.asdict(result), "path": str(result.path)}


_STALE_POOLS: list = []  # the parent's pools, kept alive in the child: destroying them would join missing threads


def _fresh_thread_pools() -> None:
    """A forked child inherits the parent's thread pools without their threads, and hangs on the first task.

    torch drops to one thread (its OpenMP pool); JAX's MLIR pool, which LiteRT conversion uses, is replaced by a
    new one where the parent (a test, an earlier in-process conversion) has imported JAX.
    """
    torch.set_num_threads(1)
    mlir = sys.modules.get("jax._src.interpreters.mlir")
    if mlir is not None:
        _STALE_POOLS.append(mlir.global_thread_pool)
        mlir.global_thread_pool = mlir.ir.ThreadPool()
