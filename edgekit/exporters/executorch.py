"""ExecuTorch exporter: torch.export, XNNPACK lowering, .pte serialisation."""

from __future__ import annotations

import collections
import contextlib
import logging
from pathlib import Path

import torch
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir import to_edge_transform_and_lower

from edgekit.core.io import atomic_write_bytes
from edgekit.core.ui import quiet_export
from edgekit.exporters.base import ExportResult, export_failure

log = logging.getLogger(__name__)

DELEGATE = "xnnpack_delegate"
# pure Python bookkeeping in the lowered graph: no kernel runs for these
_BOOKKEEPING = {"getitem"}


def _short_name(target) -> str:
    """'aten::cumsum' / EdgeOpOverload -> 'cumsum'; the delegate call -> 'xnnpack_delegate'."""
    name = getattr(target, "__name__", None) or str(target)
    if name == "executorch_call_delegate":
        return DELEGATE
    if hasattr(target, "name") and callable(target.name):
        with contextlib.suppress(Exception):
            name = target.name()
    return name.split("::")[-1].split(".")[0]


def lowered_op_counts(graph_module: torch.fx.GraphModule) -> dict[str, int]:
    """Histogram of call_function targets in the lowered (edge) graph, bookkeeping left out."""
    counts: collections.Counter[str] = collections.Counter()
    for node in graph_module.graph.nodes:
        if node.op == "call_function":
            name = _short_name(node.target)
            if name not in _BOOKKEEPING:
                counts[name] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def export_pte(model: torch.nn.Module, example: torch.Tensor, path: Path) -> ExportResult:
    """Lower to the XNNPACK delegate and write one .pte program (batch fixed to the example's)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with quiet_export():
            exported = torch.export.export(model, (example,))
            edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
            ops = lowered_op_counts(edge.exported_program().graph_module)
            program = edge.to_executorch()
    except Exception as exc:  # noqa: BLE001 - surface a one-line reason
        raise export_failure("ExecuTorch export", "pte", exc) from exc
    atomic_write_bytes(path, program.buffer)
    fallback = sorted(name for name in ops if name != DELEGATE)
    notes = [f"batch fixed to {example.shape[0]} (run() splits larger batches)"]
    if DELEGATE not in ops:
        notes.append("nothing was delegated to XNNPACK; the whole graph runs in portable kernels")
    if fallback:
        notes.append("runs in portable kernels, not XNNPACK: " + ", ".join(fallback))
    return ExportResult(path=path, op_counts=ops, fallback_ops=fallback, notes=notes)
