"""Which ops of a deployed int8 file really run as integers, per format (no silent float fallback)."""

from __future__ import annotations

import collections
import importlib
import logging
import os
import tempfile
from pathlib import Path

import torch

from edgekit.core.errors import first_line

log = logging.getLogger(__name__)

_CONVERSIONS = {"QuantizeLinear", "DequantizeLinear", "QUANTIZE", "DEQUANTIZE", "quantize_per_tensor",
                "dequantize_per_tensor", "quantize_per_channel", "dequantize_per_channel"}
# data movement, shape bookkeeping and eval-mode no-ops: no arithmetic, so not a "float fallback"
_LAYOUT = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Concat", "Slice", "Gather",
           "RESHAPE", "TRANSPOSE", "SQUEEZE", "CONCATENATION", "SLICE", "STRIDED_SLICE", "PAD", "GATHER",
           "view", "reshape", "permute", "flatten", "squeeze", "unsqueeze", "cat", "slice", "clone", "expand",
           "transpose", "contiguous", "_to_copy", "alias", "dropout", "Identity", "Dropout"}


_INTEGER_PREFIXES = ("QLinear", "QGemm", "QAttention", "QOrdered")


def _summary(int8: collections.Counter, floating: collections.Counter, conversions: int) -> dict:
    return {"int8_ops": sum(int8.values()), "float_ops": sum(floating.values()), "conversions": conversions,
            "int8_op_types": dict(int8.most_common()), "float_op_types": dict(floating.most_common())}


def onnx_census(path: Path, model: torch.nn.Module | None = None) -> dict:
    """Census of the graph onnxruntime actually runs (after its QDQ fusions), CPU execution provider."""
    import onnx
    import onnxruntime as ort

    fd, optimized = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable, no NCHWc
        options.optimized_model_filepath = optimized
        options.log_severity_level = 3
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(optimized).graph
    finally:
        Path(optimized).unlink(missing_ok=True)
    int8, floating, conversions = collections.Counter(), collections.Counter(), 0
    for node in graph.node:
        op = node.op_type
        if op in _CONVERSIONS:
            conversions += 1
        elif op.startswith(_INTEGER_PREFIXES) or op.endswith(("Integer", "IntegerToFloat")):
            int8[op] += 1  # QLinearConv, QGemm, MatMulInteger; MatMulIntegerToFloat: u8·s8 GEMM, float out
        elif op not in _LAYOUT:
            floating[op] += 1
    return _summary(int8, floating, conversions)


def tflite_census(path: Path, model: torch.nn.Module | None = None) -> dict:
    """Census of a .tflite file: an op is integer when its first input tensor is an integer type."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    int8, floating, conversions = collections.Counter(), collections.Counter(), 0
    for op in interpreter._get_ops_details():  # noqa: SLF001 - the node-level view of the Python API
        name = op["op_name"]
        inputs = [int(t) for t in op["inputs"] if int(t) >= 0]
        if name in _CONVERSIONS:
            conversions += 1
        elif name == "DELEGATE" or name in _LAYOUT:
            continue
        elif inputs and dtypes.get(inputs[0], np.dtype("float32")).kind in "iu":
            int8[name] += 1
        else:
            floating[name] += 1
    return _summary(int8, floating, conversions)


def graph_census(model: torch.fx.GraphModule) -> dict:
    """Census of a converted PT2E graph: a compute op is integer when its tensor inputs come from dequantize.

    This is the quantized model that ExecuTorch lowers; XNNPACK runs exactly these dequantize→op→quantize
    patterns as integer kernels.
    """
    int8, floating, conversions = collections.Counter(), collections.Counter(), 0
    for node in model.graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        if name in _CONVERSIONS:
            conversions += 1
            continue
        if name in _LAYOUT or name in ("getitem", "sym_size"):
            continue
        tensors = [a for a in node.args if isinstance(a, torch.fx.Node) and a.op != "get_attr"]
        from_dq = tensors and all(getattr(a.target, "__name__", "").startswith("dequantize") for a in tensors)
        (int8 if from_dq else floating)[name] += 1
    return _summary(int8, floating, conversions)


def lowered_census(path: Path, model: torch.fx.GraphModule) -> dict:
    """Census of a .pte: the converted graph XNNPACK lowered (the export's fallback_ops lists what it did not)."""
    return graph_census(model)


def census_of(path: Path, census: str, model: torch.nn.Module) -> dict:
    """Run the formats table's census ("module:function") of a file; a failure is recorded, not raised."""
    module_name, func_name = census.split(":")
    try:
        return getattr(importlib.import_module(module_name), func_name)(path, model)
    except Exception as exc:  # noqa: BLE001 - a census is information, not a verdict
        log.debug("census failed", exc_info=True)
        return {"error": f"{type(exc).__name__}: {first_line(exc, 200)}"}
