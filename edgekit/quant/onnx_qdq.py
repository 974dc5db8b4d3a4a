"""QDQ ONNX rewrites that make onnxruntime pick its fast integer kernels on x86."""

from __future__ import annotations

import numpy as np

INT8, UINT8 = 3, 2  # onnx.TensorProto data types


def activations_to_uint8(proto) -> int:
    """Store activation quantize/dequantize pairs as uint8 (zero point + 128); weights stay int8.

    Numerically exact: uint8 value = int8 value + 128 with zero point + 128. onnxruntime's x86 kernels are
    u8·s8 (VPMADDUBSW); int8·int8 QDQ nodes are left unfused there and run in float or a slow path.
    Returns the number of nodes rewritten.
    """
    from onnx import numpy_helper

    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    produced_by_quantize = {out for node in graph.node if node.op_type == "QuantizeLinear" for out in node.output}
    converted: dict[str, str] = {}

    def as_uint8(name: str) -> str | None:
        init = initializers.get(name)
        if init is None or init.data_type != INT8:
            return None
        if name not in converted:
            values = numpy_helper.to_array(init).astype(np.int16) + 128
            new = numpy_helper.from_array(values.astype(np.uint8), name=f"{name}_u8")
            graph.initializer.append(new)
            initializers[new.name] = new
            converted[name] = new.name
        return converted[name]

    rewritten, retyped = 0, set()
    for node in graph.node:
        activation = node.op_type == "QuantizeLinear" or (
            node.op_type == "DequantizeLinear" and node.input[0] in produced_by_quantize)
        if not activation or len(node.input) < 3:
            continue
        new = as_uint8(node.input[2])
        if new is not None:
            node.input[2] = new
            rewritten += 1
            if node.op_type == "QuantizeLinear":
                retyped.update(node.output)
    for info in [*graph.value_info, *graph.output]:
        if info.name in retyped:
            info.type.tensor_type.elem_type = UINT8
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name in converted and i.name not in used]:
        graph.initializer.remove(init)
    return rewritten


#: sigmoid's output lies in [0, 1]: a fixed 1/256 step with zero point -128 covers it (TFLite's LOGISTIC scheme)
GATE_SCALE, GATE_ZERO_POINT = 1.0 / 256, -128


def quantize_sigmoid_gates(proto) -> int:
    """Quantize the sigmoid inside SiLU and squeeze-excite gates, so onnxruntime runs them in int8.

    PT2E leaves `x * sigmoid(x)` unannotated: its input and output are quantized but the sigmoid between them is
    not, so onnxruntime can fuse neither op and runs each gate in float between a dequantize and a quantize. Where
    a Sigmoid reads a dequantized tensor and feeds only Muls whose other input is dequantized and whose output is
    quantized, a fixed-scale quantize/dequantize pair is put on the sigmoid's output, and float readers of the
    product read its quantized copy; onnxruntime then fuses QLinearSigmoid + QLinearMul. The cost is one rounding
    of the gate (at most 1/512) and of what those readers see. Returns the gates rewritten.
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def dequantized(name: str) -> bool:
        return getattr(producer.get(name), "op_type", None) == "DequantizeLinear"

    def requantized(name: str) -> str | None:
        """The dequantized copy of `name` (its QuantizeLinear -> DequantizeLinear), if there is one."""
        for quantize in consumers.get(name, []):
            if quantize.op_type == "QuantizeLinear":
                for dequantize in consumers.get(quantize.output[0], []):
                    if dequantize.op_type == "DequantizeLinear":
                        return dequantize.output[0]
        return None

    def gate_users(sigmoid) -> list | None:
        users = consumers.get(sigmoid.output[0], [])
        for mul in users:
            others = [name for name in mul.input if name != sigmoid.output[0]]
            if mul.op_type != "Mul" or not all(map(dequantized, others)) or requantized(mul.output[0]) is None:
                return None
        return users or None

    scale, zero_point = "edgekit_gate_scale", "edgekit_gate_zero_point"
    nodes, rewritten = [], 0
    for node in graph.node:
        nodes.append(node)
        users = gate_users(node) if node.op_type == "Sigmoid" and dequantized(node.input[0]) else None
        if users is None:
            continue
        gate = node.output[0]
        nodes.append(helper.make_node("QuantizeLinear", [gate, scale, zero_point], [f"{gate}_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [f"{gate}_q", scale, zero_point], [f"{gate}_dq"]))
        for mul in users:
            mul.input[list(mul.input).index(gate)] = f"{gate}_dq"
            # float readers of the product (PT2E leaves e.g. squeeze-excite's mean unannotated) read its dequantized
            # copy instead, so the Mul's only consumer is its quantize and onnxruntime can fuse it
            copy = requantized(mul.output[0])
            for reader in consumers.get(mul.output[0], []):
                if reader.op_type != "QuantizeLinear":
                    reader.input[list(reader.input).index(mul.output[0])] = copy
        rewritten += 1
    if rewritten:
        graph.initializer.extend([numpy_helper.from_array(np.array(GATE_SCALE, np.float32), scale),
                                  numpy_helper.from_array(np.array(GATE_ZERO_POINT, np.int8), zero_point)])
        del graph.node[:]
        graph.node.extend(_topological(nodes, graph))
    return rewritten


def _topological(nodes: list, graph) -> list:
    """`nodes` reordered so every input is produced before it is read (wave by wave, original order within each)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(nodes), []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            raise ValueError("cycle or undefined input in the rewritten ONNX graph")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        done = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in done]
    return ordered

