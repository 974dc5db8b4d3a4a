"""The formats table: one row per export format drives CLI choices, docs, tests and benchmarks."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from edgekit.errors import require_modules
from edgekit.registry import Registry


@dataclass
class ExportResult:
    """What an exporter wrote and what it learnt about the file."""

    path: Path
    op_counts: dict[str, int] = field(default_factory=dict)
    fallback_ops: list[str] = field(default_factory=list)  # ops that miss the fast path (XNNPACK etc.)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FormatSpec:
    """One deployable format: how to write it and which runtime verifies it."""

    name: str
    suffix: str
    runtime: str
    extra: str
    requires: tuple[str, ...]
    description: str
    exporter: str  # "module:function", imported only when used

    def check_installed(self) -> None:
        """Raise a one-line error naming the pip extra when a required module is missing."""
        require_modules(self.requires, self.extra)

    def export(self, model: torch.nn.Module, example: torch.Tensor, path: Path, **options) -> ExportResult:
        """Export `model` (eval mode; FP32 or a PT2E int8 graph) traced with `example` (1×3×H×W) to `path`.

        `options` are the format's own exporter keywords (e.g. tflite's `interface`).
        """
        self.check_installed()
        module_name, func_name = self.exporter.split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        return func(model, example, Path(path), **options)


FORMATS: Registry[FormatSpec] = Registry("format")

FORMATS.add("onnx", FormatSpec(
    name="onnx", suffix=".onnx", runtime="onnxruntime", extra="onnx",
    requires=("onnx", "onnxruntime", "onnxscript"),
    description="ONNX (opset 18), checked with onnx.checker (full check), run in onnxruntime",
    exporter="edgekit.exporters.onnx:export_onnx",
))
FORMATS.add("tflite", FormatSpec(
    name="tflite", suffix=".tflite", runtime="litert", extra="tflite",
    requires=("litert_torch", "ai_edge_litert"),
    description="TFLite flatbuffer via litert-torch, run in the LiteRT interpreter (XNNPACK delegate)",
    exporter="edgekit.exporters.tflite:export_tflite",
), aliases=("litert",))
FORMATS.add("pte", FormatSpec(
    name="pte", suffix=".pte", runtime="executorch", extra="executorch",
    requires=("executorch",),
    description="ExecuTorch program lowered to the XNNPACK delegate, run in the ExecuTorch runtime",
    exporter="edgekit.exporters.executorch:export_pte",
), aliases=("executorch",))


def parse_formats(text: str) -> list[FormatSpec]:
    """Parse 'onnx,tflite,pte' into format specs (unknown names raise with a did-you-mean)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        from edgekit.errors import EdgekitError

        raise EdgekitError("--formats is empty; choose from " + ", ".join(FORMATS.names()))
    specs = [FORMATS.get(name) for name in names]
    return list({spec.name: spec for spec in specs}.values())


def format_for_path(path: Path) -> FormatSpec:
    """The format whose suffix matches `path`."""
    for _, spec in FORMATS.items():
        if Path(path).suffix == spec.suffix:
            return spec
    from edgekit.errors import EdgekitError

    raise EdgekitError(
        f"'{path}' is not a known artifact (expected one of {', '.join(s.suffix for _, s in FORMATS.items())})"
    )
