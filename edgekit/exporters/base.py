"""Write a model in one format of the formats table (edgekit.core.formats)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from edgekit.core.formats import FORMATS, FormatSpec


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
    (e.g. tflite's `interface`).
    """
    spec = FORMATS.get(fmt) if isinstance(fmt, str) else fmt
    spec.check_installed()
    module_name, func_name = spec.exporter.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return func(model, example, Path(path), **options)
