"""The formats table: one row per deployable format drives CLI choices, docs, tests, exporters and runtimes.

A row names its exporter and its runtime session as "module:attribute" strings; `edgekit.exporters` and
`edgekit.runtimes` resolve them when a file is written or loaded, so this table imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core.errors import EdgekitError, require_modules
from edgekit.core.registry import Registry


@dataclass(frozen=True)
class FormatSpec:
    """One deployable format: its file suffix, how to write it and which runtime loads it."""

    name: str
    suffix: str
    runtime: str  # the runtime's name in reports
    extra: str  # the pip extra that installs exporter and runtime
    requires: tuple[str, ...]
    description: str
    exporter: str  # "module:function" writing the file
    session: str  # "module:Class" of the RuntimeSession that loads it
    census: str  # "module:function" (path, model) -> which ops of an int8 file really run as integers
    export_packages: tuple[str, ...]  # pip distributions the exporter is built on (their versions key the cache)
    runtime_packages: tuple[str, ...]  # pip distributions of the runtime that verifies and times the file
    isolated: bool  # export in a child process (edgekit.core.child): its converter can crash natively
    #: exporter keyword -> the recipe option (section.field) that sets it
    exporter_options: dict[str, str] = field(default_factory=dict)
    #: "module:function" -> {exporter keyword: value}: what an option set to 'auto' means on this host (it keys
    #: int8 exports)
    host_defaults: str = ""
    #: keeps data-dependent control flow (torch.cond): models with it (edgekit.models.control_flow) export it there
    control_flow: bool = False

    def check_installed(self) -> None:
        """Raise a one-line error naming the pip extra when a required module is missing."""
        require_modules(self.requires, self.extra)


FORMATS: Registry[FormatSpec] = Registry("format")

FORMATS.add("onnx", FormatSpec(
    name="onnx", suffix=".onnx", runtime="onnxruntime", extra="onnx",
    requires=("onnx", "onnxruntime", "onnxscript"),
    description="ONNX (opset 18), checked with onnx.checker (full check), run in onnxruntime",
    exporter="edgekit.exporters.onnx:export_onnx", session="edgekit.runtimes.onnxruntime:OrtSession",
    census="edgekit.quant.census:onnx_census", export_packages=("torch", "onnx", "onnxscript"),
    runtime_packages=("onnxruntime",), control_flow=True,  # torch.cond -> If
    exporter_options={"int8_weights": "export.onnx_int8_weights"},
    host_defaults="edgekit.runtimes.onnxruntime:host_export_defaults",
    isolated=False,  # Python over torch, no native backend to abort; a child would redo ~0.9 s of warm-up per export
), aliases=("onnxruntime",))
FORMATS.add("tflite", FormatSpec(
    name="tflite", suffix=".tflite", runtime="litert", extra="tflite",
    requires=("litert_torch", "ai_edge_litert"),
    description="TFLite flatbuffer via litert-torch, run in the LiteRT interpreter (XNNPACK delegate)",
    exporter="edgekit.exporters.tflite:export_tflite", session="edgekit.runtimes.litert:LiteRTSession",
    census="edgekit.quant.census:tflite_census", export_packages=("torch", "litert-torch", "ai-edge-litert"),
    runtime_packages=("ai-edge-litert",), isolated=True, exporter_options={"interface": "export.tflite_io"},
    # control_flow=False: litert-torch 0.10 has no lowering for torch.cond
), aliases=("litert",))
FORMATS.add("pte", FormatSpec(
    name="pte", suffix=".pte", runtime="executorch", extra="executorch",
    requires=("executorch",),
    description="ExecuTorch program lowered to the XNNPACK delegate, run in the ExecuTorch runtime",
    exporter="edgekit.exporters.executorch:export_pte", session="edgekit.runtimes.executorch:ExecuTorchSession",
    census="edgekit.quant.census:lowered_census", export_packages=("torch", "executorch"),
    runtime_packages=("executorch",), isolated=True,
    # control_flow=False: executorch 1.5 keeps torch.cond, but XnnpackPartitioner leaves the branches in portable
    # kernels: a skipping SkipNet-18 .pte ran 5-26x slower than the dense one (benchmarks/skipnet_gates.py)
), aliases=("executorch",))


def parse_formats(text: str | list[str]) -> list[FormatSpec]:
    """Parse 'onnx,tflite,pte' (or a list of names) into format specs; unknown names raise with a did-you-mean."""
    parts = text.split(",") if isinstance(text, str) else text
    names = [part.strip() for part in parts if part.strip()]
    if not names:
        raise EdgekitError("--formats is empty; choose from " + ", ".join(FORMATS.names()))
    specs = [FORMATS.get(name) for name in names]
    return list({spec.name: spec for spec in specs}.values())


def format_for_path(path: Path) -> FormatSpec:
    """The format whose suffix matches `path`."""
    for _, spec in FORMATS.items():
        if Path(path).suffix == spec.suffix:
            return spec
    raise EdgekitError(
        f"'{path}' is not a known artifact (expected one of {', '.join(s.suffix for _, s in FORMATS.items())})"
    )
