"""Inspect and rewrite PT2E-quantized graphs (quantize/dequantize nodes of `quantized_decomposed`)."""

from __future__ import annotations

import collections
from operator import attrgetter

import torch
from torch.fx.passes.tools_common import legalize_graph

from edgekit.models.program import QD, op_name


def qdq_counts(model: torch.fx.GraphModule) -> dict[str, int]:
    """How many quantize/dequantize nodes of each kind the graph holds."""
    counts: collections.Counter[str] = collections.Counter()
    for node in model.graph.nodes:
        if node.op == "call_function" and op_name(node).startswith(QD):
            counts[op_name(node).split(".")[1]] += 1
    return dict(sorted(counts.items()))


def fold_relu6(model: torch.fx.GraphModule) -> int:
    """Fold ReLU6 (hardtanh 0..6) into the quantization of the tensor feeding it; returns how many were folded.

    XNNPACK's scheme lets hardtanh share its input's scale, which keeps a float Clip between two int8 tensors
    (onnxruntime then runs the conv in float). Requantizing the producer to [0, min(6, max)] makes the clamp a
    no-op of the integer range, so the hardtanh and the second quantize/dequantize pair go away.
    """
    qdq = torch.ops.quantized_decomposed
    folded = 0
    for node in list(model.graph.nodes):
        if node.op != "call_function" or node.target not in (torch.ops.aten.hardtanh.default,
                                                            torch.ops.aten.hardtanh_.default):
            continue
        low = node.args[1] if len(node.args) > 1 else -1.0  # hardtanh's defaults
        high = node.args[2] if len(node.args) > 2 else 1.0
        dq = node.args[0]
        if (low, high) != (0.0, 6.0) or not _is(dq, qdq.dequantize_per_tensor) or len(dq.users) != 1:
            continue
        q = dq.args[0]
        if not _is(q, qdq.quantize_per_tensor) or len(q.users) != 1:
            continue
        consumers = list(node.users)
        if not consumers or not all(_is(c, qdq.quantize_per_tensor) for c in consumers):
            continue
        scale, zero, qmin, qmax = q.args[1], q.args[2], q.args[3], q.args[4]
        if not isinstance(scale, float):
            continue
        top = min(high, scale * (qmax - zero))
        if top <= 0:
            continue
        new_scale, new_zero = top / (qmax - qmin), qmin
        q.args = (q.args[0], new_scale, new_zero, *q.args[3:])
        dq.args = (q, new_scale, new_zero, *dq.args[3:])
        for requant in consumers:
            for user in list(requant.users):
                if _is(user, qdq.dequantize_per_tensor):
                    user.args = (q, new_scale, new_zero, *user.args[3:])
                else:
                    user.replace_input_with(requant, q)
        for requant in consumers:
            model.graph.erase_node(requant)
        node.replace_all_uses_with(dq)
        model.graph.erase_node(node)
        folded += 1
    if folded:
        model.graph.lint()
        model.recompile()
    return folded


#: integer matmuls whose float bias the runtimes quantize to int32 at input scale x weight scale, with the axis of
#: the weight's per-channel scales that runs along the bias
_BIASED = {torch.ops.aten.conv1d.default: 0, torch.ops.aten.conv2d.default: 0, torch.ops.aten.conv3d.default: 0,
           torch.ops.aten.linear.default: 0, torch.ops.aten.conv_transpose2d.input: 1}


def round_biases(model: torch.fx.GraphModule) -> int:
    """Put each integer layer's float bias on its int32 grid (step: input scale x weight scale); returns how many.

    onnxruntime, LiteRT and XNNPACK all add the bias in the int32 accumulator, rounded to that step, while PT2E's
    reference model adds it in float. Where a channel's weight scale is large the step is too (0.003 on an
    EfficientNet-Lite0 depthwise conv whose output step is 0.024), and the difference flipped the top-1 of ~1% of
    test images between every runtime and the PyTorch int8 model. Rounded here, the reference computes what the
    runtimes compute, and re-quantizing the rounded bias in an exporter is exact.
    """
    qdq = torch.ops.quantized_decomposed
    rounded = 0
    for node in model.graph.nodes:
        axis = _BIASED.get(node.target) if node.op == "call_function" else None
        if axis is None or len(node.args) < 3 or not isinstance(node.args[2], torch.fx.Node):
            continue
        x, w, b = node.args[:3]
        if not _is(x, qdq.dequantize_per_tensor) or not isinstance(x.args[1], float) or b.op != "get_attr":
            continue
        if _is(w, qdq.dequantize_per_channel) and w.args[1].op == "get_attr" and w.args[3] == axis:
            w_scale = attrgetter(w.args[1].target)(model)
        elif _is(w, qdq.dequantize_per_tensor) and isinstance(w.args[1], float):
            w_scale = torch.tensor([w.args[1]])
        else:
            continue
        bias = attrgetter(b.target)(model)
        if w_scale.numel() not in (1, bias.numel()):
            continue
        step = (x.args[1] * w_scale.to(torch.float32)).to(torch.float64)  # float32, as the runtimes compute it
        with torch.no_grad():
            bias.copy_((torch.round(bias.to(torch.float64) / step) * step).to(bias.dtype))
        rounded += 1
    return rounded


def drop_dropouts(model: torch.fx.GraphModule) -> int:
    """Remove inference-mode dropouts (identities) from a converted graph; returns how many.

    torch.export keeps `dropout(x, p, train=False)` nodes; they hide patterns such as SiLU → quantize in
    MobileViT's MLPs from the rewrites below, and no runtime needs them.
    """
    dropouts = [node for node in model.graph.nodes if node.op == "call_function"
                and node.target == torch.ops.aten.dropout.default and node.args[2:3] == (False,)]
    for node in dropouts:
        node.replace_all_uses_with(node.args[0])
        model.graph.erase_node(node)
    if dropouts:
        model.graph.lint()
        model.recompile()
    return len(dropouts)


_CONSTANT_PADS = (torch.ops.aten.pad.default, torch.ops.aten.constant_pad_nd.default)


def requantize_pads(model: torch.fx.GraphModule) -> int:
    """Give each zero pad of a quantized tensor an output quantizer equal to its input's; returns how many.

    XNNPACK's scheme leaves a pad's output in float (Swin/TinyViT window padding), which ExecuTorch lowers to a
    pad with an int8 input and a float output that XNNPACK refuses at load time. Padding with 0 is exact in the
    input's own quantization (0 is the zero point), so the added quantize/dequantize pair changes no value.
    """
    qdq = torch.ops.quantized_decomposed
    graph = model.graph
    added = 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in _CONSTANT_PADS:
            continue
        dq = node.args[0]
        if node.target == torch.ops.aten.constant_pad_nd.default:  # (input, pad, value=0)
            mode, value = "constant", node.args[2] if len(node.args) > 2 else node.kwargs.get("value", 0)
        else:  # aten.pad: (input, pad, mode="constant", value=None)
            mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
            value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value")
        if mode != "constant" or value not in (None, 0, 0.0) or not _is(dq, qdq.dequantize_per_tensor):
            continue
        if node.users and all(_is(user, qdq.quantize_per_tensor) for user in node.users):
            continue
        _quantize_output(graph, node, tuple(dq.args[1:]))
        added += 1
    if added:
        graph.lint()
        model.recompile()
    return added


_SILU = (torch.ops.aten.silu.default, torch.ops.aten.silu_.default)  # timm's SiLU(inplace=True) traces to silu_
#: sigmoid's output lies in [0, 1]: a fixed 1/256 step with zero point -128 covers it (TFLite's LOGISTIC scheme)
GATE_SCALE, GATE_ZERO_POINT = 1.0 / 256, -128


def quantize_sigmoid_gates(model: torch.fx.GraphModule) -> int:
    """Quantize the sigmoid inside SiLU (and unannotated `x * sigmoid(y)` gates); returns the gates quantized.

    XNNPACK's scheme leaves SiLU unannotated between a quantized input and a quantized output, so every runtime
    runs it in float between a dequantize and a quantize. Each such SiLU becomes `x * sigmoid(x)` with the sigmoid
    quantized at a fixed 1/256 step (zero point -128), which lets onnxruntime fuse QLinearSigmoid + QLinearMul and
    LiteRT run LOGISTIC and MUL in int8. Float readers of the product read its quantized copy instead. The cost is
    one rounding of the gate (at most 1/512); it is part of the integer model every format and the PyTorch
    reference share.
    """
    qdq = torch.ops.quantized_decomposed
    graph = model.graph
    for node in list(graph.nodes):  # SiLU(x) -> x * sigmoid(x), where it sits between quantized tensors
        if node.op == "call_function" and node.target in _SILU and \
                _is(node.args[0], qdq.dequantize_per_tensor) and _requantized(node) is not None:
            dequantized = node.args[0]
            with graph.inserting_before(node):
                gate = graph.call_function(torch.ops.aten.sigmoid.default, (_own_copy(graph, dequantized),))
                product = graph.call_function(torch.ops.aten.mul.Tensor, (dequantized, gate))
            node.replace_all_uses_with(product)
            graph.erase_node(node)
    gates = 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target != torch.ops.aten.sigmoid.default:
            continue
        muls = list(node.users)
        if not _is(node.args[0], qdq.dequantize_per_tensor) or not muls or not all(
                user.target == torch.ops.aten.mul.Tensor and _requantized(user) is not None
                and all(_is(arg, qdq.dequantize_per_tensor) for arg in user.args if arg is not node)
                for user in muls):
            continue
        _quantize_output(graph, node, (GATE_SCALE, GATE_ZERO_POINT, -128, 127, torch.int8))
        for mul in muls:
            copy = _requantized(mul)
            for reader in list(mul.users):
                if not _is(reader, qdq.quantize_per_tensor):
                    with graph.inserting_before(reader):
                        reader.replace_input_with(mul, _own_copy(graph, copy))
        gates += 1
    if gates:
        # a float reader may precede the product's quantize (NNCF orders squeeze-excite's mean first)
        legalize_graph(model)
        model.graph.lint()
        model.recompile()
    return gates


def _quantize_output(graph: torch.fx.Graph, node: torch.fx.Node, params: tuple) -> None:
    """Put a quantize/dequantize pair with `params` on `node`'s output; its readers read the dequantized copy."""
    qdq = torch.ops.quantized_decomposed
    with graph.inserting_after(node):
        quantized = graph.call_function(qdq.quantize_per_tensor.default, (node, *params))
    with graph.inserting_after(quantized):
        dequantized = graph.call_function(qdq.dequantize_per_tensor.default, (quantized, *params))
    node.replace_all_uses_with(dequantized)
    quantized.args = (node, *params)  # replace_all_uses_with rewired the quantize's own input too


def _own_copy(graph: torch.fx.Graph, dequantize: torch.fx.Node) -> torch.fx.Node:
    """A new dequantize node like `dequantize`, at the graph's insertion point: one per reader, as convert_pt2e
    leaves them (ExecuTorch's partitioner finds a dependency cycle when float and integer ops share one)."""
    return graph.call_function(dequantize.target, dequantize.args, dequantize.kwargs)


def _requantized(node: torch.fx.Node) -> torch.fx.Node | None:
    """The dequantized copy of `node`'s output (its quantize -> dequantize), if there is one."""
    qdq = torch.ops.quantized_decomposed
    for quantize in node.users:
        if _is(quantize, qdq.quantize_per_tensor):
            for dequantize in quantize.users:
                if _is(dequantize, qdq.dequantize_per_tensor):
                    return dequantize
    return None


def _is(node, packet) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and node.target in (
        packet.default, getattr(packet, "tensor", None))
