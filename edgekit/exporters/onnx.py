"""ONNX exporter: torch.onnx (dynamo, opset 18) with a dynamic batch, checked with onnx.checker."""

from __future__ import annotations

import collections
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.ui import quiet_export
from edgekit.exporters.base import DYNAMO_FAILED, ExportResult, trace_failure

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# protobuf cannot serialise a single file above 2 GiB; leave headroom for the graph itself
_EXTERNAL_DATA_BYTES = 1_800_000_000


def _export_dynamo(model: torch.nn.Module, example: torch.Tensor, tmp: Path, external: bool) -> None:
    # trace with batch 2: a batch-1 example makes torch.export specialise (0/1) the batch dim
    batch = torch.export.Dim("batch", min=1, max=4096)
    traced = example.expand(2, *example.shape[1:]).contiguous() if example.shape[0] == 1 else example
    program = torch.onnx.export(
        model, (traced,), dynamo=True, opset_version=OPSET,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: batch},), optimize=True, verbose=False, report=False,
    )
    program.save(str(tmp), external_data=external)


def _export_torchscript(model: torch.nn.Module, example: torch.Tensor, tmp: Path, external: bool) -> None:
    torch.onnx.export(
        model, (example,), str(tmp), dynamo=False, opset_version=OPSET,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        do_constant_folding=True, external_data=external,
    )


def _finish(path: Path, external: bool, keep_metadata: bool = False,
            uint8_weights: bool = False) -> "onnx.ModelProto":  # noqa: F821
    """Load the exported file, make it a plain deployable graph and rewrite it in place; returns the graph.

    Local functions are inlined; the per-node debug metadata torch.onnx records (source stack, FX node text,
    module path) is dropped, since on small models it outweighs the weights (1.5 MB of 3.9 MB on an INT8
    MobileViT-XS). QDQ graphs get uint8 activations, the form onnxruntime's x86 integer kernels take, and uint8
    weights if `uint8_weights`.
    """
    import onnx
    import onnx.inliner

    proto = onnx.load(str(path))
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    for node in [] if keep_metadata else _iter_nodes(proto.graph):
        del node.metadata_props[:]
    if any(node.op_type == "QuantizeLinear" for node in proto.graph.node):
        from edgekit.exporters.onnx_qdq import to_uint8

        to_uint8(proto, weights=uint8_weights)
    if external:  # onnx appends to an existing data file; the tensors are in memory now
        (path.parent / (path.name + ".data")).unlink(missing_ok=True)
    onnx.save(proto, str(path), save_as_external_data=external, location=path.name + ".data" if external else None)
    return proto


def _iter_nodes(graph):
    """All nodes of `graph`, including those in If/Loop/Scan subgraphs."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _iter_nodes(attr.g)
            for sub in attr.graphs:
                yield from _iter_nodes(sub)


def op_histogram(proto) -> dict[str, int]:
    """op_type -> count over the graph, its subgraphs and any remaining functions."""
    counts: collections.Counter[str] = collections.Counter()
    nodes = list(_iter_nodes(proto.graph))
    for func in proto.functions:
        nodes.extend(func.node)
    local = {(f.domain, f.name) for f in proto.functions}
    for node in nodes:
        if (node.domain, node.op_type) in local:
            continue  # the call itself; its body is counted
        name = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        counts[name] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path,
                keep_metadata: bool = False, int8_weights: str = "int8") -> ExportResult:
    """Export to one self-contained .onnx file with a dynamic batch dimension.

    `keep_metadata` keeps torch.onnx's per-node debug metadata (module scopes, source lines), e.g. to map nodes back
    to modules; deployable files drop it. `int8_weights` ('int8' or 'uint8') is how an int8 graph stores its
    weights (edgekit.exporters.onnx_qdq; the host's choice: edgekit.runtimes.onnxruntime.int8_weight_type).
    """
    import onnx

    from edgekit.exporters.onnx_qdq import WEIGHT_TYPES

    if int8_weights not in WEIGHT_TYPES:
        raise ValueError(f"int8_weights must be one of {WEIGHT_TYPES}, got {int8_weights!r}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    external = size > _EXTERNAL_DATA_BYTES
    if external:
        notes.append(f"weights ({size / 2**30:.1f} GiB) stored in '{path.name}.data' next to the file")
    # export into a private folder beside the target (same name, so external-data references hold)
    workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp = workdir / path.name
    try:
        with quiet_export():
            try:
                _export_dynamo(model, example, tmp, external)
            except Exception as exc:  # noqa: BLE001 - any dynamo failure triggers the fallback
                first = first_line(exc)
                log.warning("dynamo ONNX export failed (%s: %s); using the TorchScript exporter",
                            type(exc).__name__, first)
                for leftover in workdir.iterdir():
                    leftover.unlink()
                _export_torchscript(model, example, tmp, external)
                notes.append(f"{DYNAMO_FAILED} ({trace_failure(exc, 120)}); used the "
                             "TorchScript exporter, which records one path through any Python control flow")
        proto = _finish(tmp, external, keep_metadata, uint8_weights=int8_weights == "uint8")
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise EdgekitError(f"ONNX export of {path.name} failed the checker: {first_line(exc)}") from exc
        data = [f for f in workdir.iterdir() if f != tmp]
        for side in data:
            os.replace(side, path.parent / side.name)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ops = op_histogram(proto)
    if int8_weights == "uint8" and "QuantizeLinear" in ops:
        notes.append("int8 weights stored as uint8 (zero point 128), exact in onnxruntime's u8·u8 kernels "
                     "(--onnx-int8-weights)")
    custom = sorted(op for op in ops if "::" in op)
    if custom:
        notes.append("ops outside the default ai.onnx domain: " + ", ".join(custom))
    return ExportResult(path=path, op_counts=ops, fallback_ops=[], notes=notes)
