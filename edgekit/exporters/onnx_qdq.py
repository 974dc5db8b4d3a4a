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
