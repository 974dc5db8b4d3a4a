"""--quant-backend nncf --max-drop: NNCF's accuracy-controlled PTQ picks the layers that stay in float.

`nncf.quantize_with_accuracy_control` works on ONNX (and OpenVINO) models only, so it runs on the FP32 ONNX export
of the model: NNCF quantizes it, measures top-1 in onnxruntime and reverts its most harmful quantizers until the
drop is within budget. The layers whose weights it left in float are mapped back to PyTorch modules (by parameter
name, or the module scopes torch.onnx records per node), and the one deployed model is then built from the PT2E
graph with those layers in float, so ONNX, TFLite and .pte still share one quantized model.
"""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.ui import info

_WEIGHTED = ("Conv", "Gemm", "MatMul")


def module_of(weight: str, scopes: list[str], layers: set[str]) -> str | None:
    """The conv/linear module an ONNX node came from: its weight's parameter name, else its module scopes.

    Convs keep their parameter name (`stem.conv.weight`) even with batch norm folded in; a linear on 3-D tokens
    reads a transposed copy of its weight (a generated name) but carries its own scope (`blocks.0.mlp.fc1`).
    """
    if weight.endswith(".weight") and weight[:-len(".weight")] in layers:
        return weight[:-len(".weight")]
    return next((scope for scope in reversed(scopes) if scope in layers), None)


def weighted_nodes(proto, layers: set[str]) -> dict[str, str | None]:
    """Node name -> module name (None when unknown), for conv/gemm/matmul nodes whose weight is an initializer."""
    initializers = {init.name for init in proto.graph.initializer}
    nodes = {}
    for node in proto.graph.node:
        if node.op_type in _WEIGHTED and len(node.input) > 1 and node.input[1] in initializers:
            scopes = next((m.value for m in node.metadata_props if m.key == "pkg.torch.onnx.name_scopes"), "[]")
            nodes[node.name] = module_of(node.input[1], ast.literal_eval(scopes), layers)
    return nodes


def kept_float(quantized) -> set[str]:
    """Names of conv/gemm/matmul nodes of an NNCF-quantized ONNX model whose weight is not dequantized int8."""
    producer = {out: node.op_type for node in quantized.graph.node for out in node.output}
    return {node.name for node in quantized.graph.node
            if node.op_type in _WEIGHTED and len(node.input) > 1 and producer.get(node.input[1]) != "DequantizeLinear"}


def _top1(proto, batches) -> float:
    """Top-1 (0-1, NNCF's metric scale) of an ONNX model over (images, labels) batches in onnxruntime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    correct = total = 0
    for images, labels in batches:
        logits = session.run(None, {name: images.numpy()})[0]
        correct += int((logits.argmax(1) == labels.numpy()).sum())
        total += len(labels)
    return correct / max(total, 1)


def nncf_float_layers(model: torch.nn.Module, layers: list[str], batches: list[torch.Tensor], val,
                      max_drop: float) -> dict:
    """Run NNCF's accuracy control on the FP32 ONNX export; returns the float layers and what NNCF measured."""
    import nncf
    import onnx

    from edgekit.core.ui import quiet_export
    from edgekit.exporters.onnx import export_onnx

    loader = DataLoader(val, batch_size=64, shuffle=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fp32.onnx"
        export_onnx(model.eval(), batches[0][:1], path, keep_metadata=True)
        proto = onnx.load(str(path))
    nodes = weighted_nodes(proto, set(layers))
    feed = proto.graph.input[0].name  # NNCF's ONNX engine hands each item to onnxruntime as its input feed
    info(f"max-drop: NNCF accuracy-controlled PTQ on the FP32 ONNX export (budget {max_drop} points)")
    try:
        with quiet_export():
            quantized = nncf.quantize_with_accuracy_control(
                proto, nncf.Dataset([{feed: b.numpy()} for b in batches]),
                nncf.Dataset(loader, lambda item: {feed: item[0].numpy()}),
                _top1, max_drop=max_drop / 100,
                drop_type=nncf.DropType.ABSOLUTE, preset=nncf.QuantizationPreset.MIXED,
                subset_size=sum(b.shape[0] for b in batches))
    except Exception as exc:  # noqa: BLE001 - NNCF's failures become one line
        raise EdgekitError(f"NNCF accuracy control failed: {type(exc).__name__}: {first_line(exc, 300)}") from exc
    reverted = sorted(kept_float(quantized) & set(nodes))
    unmapped = [name for name in reverted if nodes[name] is None]
    if unmapped:
        raise EdgekitError(f"--quant-backend nncf --max-drop: cannot map NNCF's float node(s) "
                           f"{', '.join(unmapped[:3])} to model layers; use --quant-backend pt2e")
    float_layers = sorted({nodes[name] for name in reverted}, key=layers.index)
    return {"float_layers": float_layers, "nncf_nodes_in_float": reverted,
            "nncf_top1": round(100 * _top1(quantized, loader), 2)}

