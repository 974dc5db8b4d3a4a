"""The interface of a full-integer .tflite file: int8 in/out as converted, or float in/out (`--tflite-io float`).

A float interface wraps the integer graph in one QUANTIZE op at the input and one DEQUANTIZE op at the output,
with the scale and zero point the file already carries, so callers feed and read float32 tensors (the TFLite
converter's `inference_input_type=float32` layout) while every op in between stays integer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.io import atomic_write_bytes

TFLITE_IO = ("int8", "float")
_INTEGER_TYPES = {9, 3}  # schema TensorType INT8, UINT8


def _opcode_index(model, builtin: int, version: int) -> int:
    from ai_edge_litert import schema_py_generated as schema

    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, version)
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _float_twin(model, subgraph, index: int, name: str) -> int:
    """A new float32 tensor shaped like tensor `index` (no data); returns its index."""
    from ai_edge_litert import schema_py_generated as schema

    source = subgraph.tensors[index]
    tensor = schema.TensorT()
    tensor.name, tensor.type = name.encode(), schema.TensorType.FLOAT32
    tensor.shape = np.array(source.shape, dtype=np.int32)
    if source.shapeSignature is not None:
        tensor.shapeSignature = np.array(source.shapeSignature, dtype=np.int32)
    model.buffers.append(schema.BufferT())
    tensor.buffer = len(model.buffers) - 1
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _operator(opcode: int, inputs: list[int], outputs: list[int]):
    from ai_edge_litert import schema_py_generated as schema

    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs, op.outputs = np.array(inputs, dtype=np.int32), np.array(outputs, dtype=np.int32)
    return op


def float_interface(path: Path) -> int:
    """Rewrite the .tflite at `path` in place to take and return float32; returns the tensors wrapped.

    Only integer graph inputs/outputs are wrapped (a file that is already float is left unchanged).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(path.read_bytes(), 0))
    if len(model.subgraphs) != 1:
        raise EdgekitError(f"--tflite-io float needs a single-subgraph .tflite; {path.name} has "
                           f"{len(model.subgraphs)}")
    subgraph = model.subgraphs[0]
    renamed: dict[int, int] = {}
    head, tail = [], []
    for index in subgraph.inputs:
        if subgraph.tensors[index].type in _INTEGER_TYPES:
            renamed[index] = _float_twin(model, subgraph, index, f"{subgraph.tensors[index].name.decode()}_float")
            quantize = _opcode_index(model, schema.BuiltinOperator.QUANTIZE, 2)
            head.append(_operator(quantize, [renamed[index]], [index]))
    for index in subgraph.outputs:
        if subgraph.tensors[index].type in _INTEGER_TYPES:
            renamed[index] = _float_twin(model, subgraph, index, f"{subgraph.tensors[index].name.decode()}_float")
            dequantize = _opcode_index(model, schema.BuiltinOperator.DEQUANTIZE, 2)
            tail.append(_operator(dequantize, [index], [renamed[index]]))
    if not renamed:
        return 0
    subgraph.operators = [*head, *subgraph.operators, *tail]
    subgraph.inputs = np.array([renamed.get(i, i) for i in subgraph.inputs], dtype=np.int32)
    subgraph.outputs = np.array([renamed.get(i, i) for i in subgraph.outputs], dtype=np.int32)
    for signature in model.signatureDefs or []:
        for entry in [*signature.inputs, *signature.outputs]:
            entry.tensorIndex = renamed.get(entry.tensorIndex, entry.tensorIndex)
    builder = flatbuffers.Builder(max(1024, path.stat().st_size))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    atomic_write_bytes(path, bytes(builder.Output()))
    return len(renamed)
