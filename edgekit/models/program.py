"""PT2E programs: recognise an integer (quantize/dequantize) graph, and look up its constants."""

from __future__ import annotations

import torch

QD = "quantized_decomposed"  # the op namespace of PT2E's quantize/dequantize nodes


def op_name(node: torch.fx.Node) -> str:
    """'namespace.name' of a call_function target ('quantized_decomposed.quantize_per_tensor', 'aten.conv2d')."""
    target = node.target
    name = getattr(target, "__name__", str(target))
    namespace = getattr(target, "namespace", "")
    return f"{namespace}.{name}" if namespace else name


def is_quantized(model: torch.nn.Module) -> bool:
    """True when `model` is a PT2E-converted graph carrying quantize/dequantize nodes."""
    graph = getattr(model, "graph", None)
    return graph is not None and any(n.op == "call_function" and op_name(n).startswith(QD) for n in graph.nodes)


def get_attr(model: torch.nn.Module, target: str) -> torch.Tensor:
    """The tensor a get_attr node's dotted `target` names in `model`."""
    value = model
    for part in target.split("."):
        value = getattr(value, part)
    return value
