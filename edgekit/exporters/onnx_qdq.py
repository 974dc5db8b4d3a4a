"""QDQ ONNX rewrites that make onnxruntime pick exact, fast integer kernels on x86."""

from __future__ import annotations

import numpy as np

INT8, UINT8 = 3, 2  # onnx.TensorProto data types
#: how an int8 file stores its weights: int8 (onnxruntime's u8·s8 kernels) or uint8 (u8·u8); 'auto', the option's
#: default, is resolved per host by the export stage (edgekit.runtimes.onnxruntime.int8_weight_type)
WEIGHT_TYPES = ("int8", "uint8")


def to_uint8(proto, weights: bool = False) -> int:
    """Store activation quantize/dequantize pairs as uint8 (zero point + 128), and the weights too if `weights`.

    Numerically exact: uint8 value = int8 value + 128 with zero point + 128. onnxruntime's x86 kernels take uint8
    activations (int8·int8 QDQ nodes are left unfused there and run in float or a slow path); uint8 weights
    select its u8·u8 kernels (exact on x86 without VNNI, edgekit.runtimes.onnxruntime). Returns the number of
    nodes rewritten.
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

    def zero_point_128(scale: str) -> str:
        shape = numpy_helper.to_array(initializers[scale]).shape
        new = numpy_helper.from_array(np.full(shape, 128, np.uint8), name=f"{scale}_zero_point_u8")
        graph.initializer.append(new)
        initializers[new.name] = new
        return new.name

    rewritten, retyped = 0, set()
    for node in graph.node:
        weight = weights and node.op_type == "DequantizeLinear" and as_uint8(node.input[0]) is not None
        if weight:
            node.input[0] = converted[node.input[0]]
            if len(node.input) < 3:  # an absent zero point is 0 of the data's type: uint8 needs 128 spelled out
                node.input.append(zero_point_128(node.input[1]))
        activation = node.op_type == "QuantizeLinear" or (
            node.op_type == "DequantizeLinear" and node.input[0] in produced_by_quantize)
        new = as_uint8(node.input[2]) if (activation or weight) and len(node.input) >= 3 else None
        if new is not None:
            node.input[2] = new
            if node.op_type == "QuantizeLinear":
                retyped.update(node.output)
        rewritten += bool(weight or new)
    for info in [*graph.value_info, *graph.output]:
        if info.name in retyped:
            info.type.tensor_type.elem_type = UINT8
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name in converted and i.name not in used]:
        graph.initializer.remove(init)
    return rewritten
