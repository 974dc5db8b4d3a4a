"""ONNX files for TensorRT: an explicitly quantized INT8 (QDQ) model that follows TensorRT's rules, and an FP16 copy.

TensorRT runs INT8 only from Q/DQ pairs that are symmetric: int8 for activations and weights, every zero point 0
(`TRT only supports symmetric quantization - zeroPt must be all zeros`). edgekit's usual INT8 ONNX stores
activations as uint8 with zero point 128 for onnxruntime's x86 kernels, so TensorRT needs its own file.

What `quantize_for_tensorrt` writes (onnxruntime.quantization, QDQ format), following NVIDIA's placement advice:
* Q/DQ on the inputs of Conv / Gemm / MatMul (weights per output channel) and on both inputs of Add, so a residual
  Add can fuse into the convolution before it (NVIDIA/TensorRT#1992);
* no Q/DQ on those ops' outputs: the next quantized op quantizes its own input;
* biases stay float (no int32 bias DequantizeLinear);
* the first convolution (3 input channels, fed by the image) and the last Gemm/MatMul (the classifier, feeding
  the logits) stay float by default: an int8 kernel gains little there and the logits keep full precision.
Everything outside the Q/DQ pairs stays FP32 in the file: TensorRT 8.x/10.x may run it in FP16 (`--int8 --fp16`);
TensorRT 11 (strongly typed) runs it as typed, FP32. Converting those parts to float16 would need float16 Q/DQ
scales, which opset 18 does not allow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError, first_line

INT8 = 3  # onnx.TensorProto.INT8
QUANTIZED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
CALIBRATION_BATCH = 8


def _graph_input(proto) -> str:
    initializers = {init.name for init in proto.graph.initializer}
    inputs = [i.name for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise EdgekitError(f"expected one image input, found {len(inputs)}: {', '.join(inputs)[:200]}")
    return inputs[0]


def _name_nodes(proto) -> None:
    """Give every node a unique name (nodes_to_exclude works by name; some exporters leave names empty)."""
    seen: set[str] = set()
    for i, node in enumerate(proto.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def _check_calibration(calibration: np.ndarray) -> np.ndarray:
    arr = np.asarray(calibration)
    if arr.ndim != 4 or arr.shape[0] < 1:
        raise EdgekitError(f"calibration data must be an (N, C, H, W) array, not shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise EdgekitError("calibration data has NaN or infinite values")
    return arr


def quantize_for_tensorrt(fp32_onnx: str | Path, out_path: str | Path, calibration: np.ndarray, *,
                          keep_first_conv_float: bool = True, keep_classifier_float: bool = True,
                          batch_size: int = CALIBRATION_BATCH) -> dict:
    """Write a TensorRT-ready INT8 QDQ ONNX of `fp32_onnx`, calibrated (min/max) on `calibration` (N×C×H×W
    float32, already normalised like the model's inputs); returns what was done. Checked with check_tensorrt_qdq.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_onnx, out_path = Path(fp32_onnx), Path(out_path)
    if not fp32_onnx.is_file():
        raise EdgekitError(f"ONNX file '{fp32_onnx}' does not exist")
    data = _check_calibration(calibration)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgekit-trt-qdq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # noqa: BLE001 - onnx/onnxruntime raise many types
            raise EdgekitError(f"cannot prepare '{fp32_onnx.name}' for quantization: {first_line(exc, 200)}") from exc
        proto = onnx.load(str(pre))
        _name_nodes(proto)
        onnx.save(proto, str(pre))
        input_name = _graph_input(proto)
        excluded = []
        weighted = [n for n in proto.graph.node if n.op_type in WEIGHTED_OPS]
        convs = [n for n in weighted if n.op_type == "Conv"]
        if keep_first_conv_float and convs:
            excluded.append(convs[0].name)
        heads = [n for n in weighted if n.op_type in ("Gemm", "MatMul")]
        if keep_classifier_float and heads and heads[-1].name not in excluded:
            excluded.append(heads[-1].name)

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.start = 0

            def get_next(self):
                if self.start >= len(data):
                    return None
                batch = data[self.start:self.start + batch_size]
                self.start += batch_size
                return {input_name: batch}

        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = Path(tmp) / "qdq.onnx"
        try:
            quantize_static(
                str(pre), str(tmp_out), Reader(), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                op_types_to_quantize=list(QUANTIZED_OPS), nodes_to_exclude=excluded,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                               "QDQKeepRemovableActivations": True,
                               "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS)})
        except Exception as exc:  # noqa: BLE001
            raise EdgekitError(f"onnxruntime cannot quantize '{fp32_onnx.name}': {first_line(exc, 200)}") from exc
        shutil.move(str(tmp_out), str(out_path))
    report = check_tensorrt_qdq(out_path)
    return {**report, "path": str(out_path), "excluded_nodes": excluded, "calibration_images": int(len(data)),
            "activations": "int8 symmetric", "weights": "int8 symmetric per-channel",
            "seconds": round(time.perf_counter() - start, 3)}


def _constant_values(proto) -> dict:
    """Tensor name -> TensorProto for initializers and Constant nodes' values."""
    values = {init.name: init for init in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    values[node.output[0]] = attr.t
    return values


def check_tensorrt_qdq(path: str | Path) -> dict:
    """Raise an EdgekitError naming the first QuantizeLinear/DequantizeLinear whose type is not int8 or whose zero
    point is not 0 (TensorRT's rule); returns the Q and DQ node counts of a file that passes."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001
        raise EdgekitError(f"cannot read ONNX file '{path}': {first_line(exc, 200)}") from exc
    values = _constant_values(proto)
    counts = {"QuantizeLinear": 0, "DequantizeLinear": 0}

    def fail(node, why: str) -> EdgekitError:
        return EdgekitError(f"'{path.name}' does not follow TensorRT's INT8 rule (int8, zero point 0): "
                            f"{node.op_type} '{node.name}' {why}")

    for node in proto.graph.node:
        if node.op_type not in counts:
            continue
        counts[node.op_type] += 1
        zp_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if zp_name is None:
            if node.op_type == "QuantizeLinear":
                out_type = next((a.i for a in node.attribute if a.name == "output_dtype"), 0)
                if out_type != INT8:
                    raise fail(node, "has no zero point, so it quantizes to uint8")
            elif node.input[0] in values and values[node.input[0]].data_type != INT8:
                kind = onnx.TensorProto.DataType.Name(values[node.input[0]].data_type).lower()
                raise fail(node, f"dequantizes {kind} data")
            continue
        if zp_name not in values:
            raise fail(node, f"has a zero point ('{zp_name}') that is not a constant")
        zero_point = values[zp_name]
        if zero_point.data_type != INT8:
            raise fail(node, f"has type {onnx.TensorProto.DataType.Name(zero_point.data_type).lower()}")
        array = numpy_helper.to_array(zero_point)
        if array.size and np.any(array != 0):
            raise fail(node, f"has zero point {int(array.flat[int(np.flatnonzero(array)[0])])}, not 0")
        if node.op_type == "DequantizeLinear" and node.input[0] in values and values[node.input[0]].data_type != INT8:
            kind = onnx.TensorProto.DataType.Name(values[node.input[0]].data_type).lower()
            raise fail(node, f"dequantizes {kind} data")
    if not counts["QuantizeLinear"] and not counts["DequantizeLinear"]:
        raise EdgekitError(f"'{path.name}' has no QuantizeLinear/DequantizeLinear nodes: it is not an explicitly "
                           "quantized (QDQ) model")
    return {"quantize_nodes": counts["QuantizeLinear"], "dequantize_nodes": counts["DequantizeLinear"]}


def convert_fp16_for_tensorrt(fp32_onnx: str | Path, out_path: str | Path) -> dict:
    """An FP16 copy for TensorRT 11 (strongly typed: no --fp16 flag): float16 weights and activations, inputs and
    outputs kept float32 (onnxruntime.transformers.float16, keep_io_types=True)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    fp32_onnx, out_path = Path(fp32_onnx), Path(out_path)
    try:
        proto = onnx.load(str(fp32_onnx))
        converted = convert_float_to_float16(proto, keep_io_types=True)
    except Exception as exc:  # noqa: BLE001
        raise EdgekitError(f"cannot convert '{fp32_onnx.name}' to float16: {first_line(exc, 200)}") from exc
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    onnx.save(converted, str(tmp))
    os.replace(tmp, out_path)
    casts = sum(1 for n in converted.graph.node if n.op_type == "Cast")
    return {"path": str(out_path), "cast_nodes": casts, "io": "float32"}


def onnx_for_tensorrt(kind: str, fp32_onnx: str | Path, out_path: str | Path,
                      calibration: np.ndarray | None = None) -> Path:
    """The file edgekit.devices.tensorrt.onnx_kind names: "fp32" (the input itself), "fp16" or "qdq"."""
    if kind == "fp32":
        return Path(fp32_onnx)
    if kind == "fp16":
        return Path(convert_fp16_for_tensorrt(fp32_onnx, out_path)["path"])
    if kind == "qdq":
        if calibration is None:
            raise EdgekitError("an INT8 TensorRT engine needs calibration images for its QDQ file")
        return Path(quantize_for_tensorrt(fp32_onnx, out_path, calibration)["path"])
    raise EdgekitError(f"unknown TensorRT ONNX kind '{kind}' (fp32, fp16 or qdq)")
