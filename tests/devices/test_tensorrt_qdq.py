"""TensorRT's INT8 rule on CPU: the QDQ file quantize_for_tensorrt writes is int8 with zero points 0, keeps Q/DQ on
both inputs of the residual Add, and agrees with the FP32 file in onnxruntime; the default uint8 file is refused."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from edgekit.core.errors import EdgekitError
from edgekit.exporters.onnx_trt import (
    check_tensorrt_qdq,
    convert_fp16_for_tensorrt,
    onnx_for_tensorrt,
    quantize_for_tensorrt,
)


class Residual(torch.nn.Module):
    """conv → (conv → relu6 → conv) + skip → relu → pool → linear."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.a = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.b = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = torch.relu(y + self.b(torch.nn.functional.relu6(self.a(y))))
        return self.head(y.mean((2, 3)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trt-qdq")
    torch.manual_seed(0)
    model = Residual().eval()
    fp32 = tmp / "fp32.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(fp32), dynamo=False, opset_version=18,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    calibration = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    qdq = tmp / "trt_qdq.onnx"
    report = quantize_for_tensorrt(fp32, qdq, calibration)
    return fp32, qdq, report, calibration


def run(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def test_every_zero_point_is_int8_zero(files):
    _, qdq, report, _ = files
    proto = onnx.load(str(qdq))
    inits = {i.name: i for i in proto.graph.initializer}
    qdq_nodes = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq_nodes and all(len(n.input) == 3 for n in qdq_nodes)
    for node in qdq_nodes:
        zp = inits[node.input[2]]
        assert zp.data_type == onnx.TensorProto.INT8 and not numpy_helper.to_array(zp).any(), node.name
    weights = [inits[n.input[0]] for n in qdq_nodes if n.input[0] in inits]
    assert weights and all(w.data_type == onnx.TensorProto.INT8 for w in weights)  # no int32 bias DQ
    assert report["quantize_nodes"] == 3 and report["dequantize_nodes"] == 5
    assert report["calibration_images"] == 32 and len(report["excluded_nodes"]) == 2


def test_q_dq_placement_follows_nvidia_advice(files):
    _, qdq, _, _ = files
    proto = onnx.load(str(qdq))
    producer = {out: n for n in proto.graph.node for out in n.output}
    add = next(n for n in proto.graph.node if n.op_type == "Add")
    assert [producer[i].op_type for i in add.input] == ["DequantizeLinear", "DequantizeLinear"]  # residual Add
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert producer.get(convs[0].input[0]) is None  # the stem reads the image in float
    assert all(producer[c.input[0]].op_type == "DequantizeLinear" for c in convs[1:])
    head = next(n for n in proto.graph.node if n.op_type in ("Gemm", "MatMul"))
    assert head.output[0] == "logits" and producer[head.input[0]].op_type != "DequantizeLinear"
    consumers = {i for n in proto.graph.node for i in n.input}
    quantized_outputs = [n for n in proto.graph.node if n.op_type == "QuantizeLinear"
                         and producer.get(n.input[0]) is not None and producer[n.input[0]].op_type in ("Add", "Gemm")]
    assert not quantized_outputs and "logits" not in consumers


def test_qdq_file_agrees_with_fp32_in_onnxruntime(files):
    fp32, qdq, _, _ = files
    x = np.random.default_rng(1).standard_normal((64, 3, 32, 32)).astype(np.float32)
    ref, out = run(fp32, x), run(qdq, x)
    assert (ref.argmax(1) == out.argmax(1)).mean() >= 0.9
    assert np.abs(ref - out).max() <= 0.05 * np.abs(ref).max()


def test_default_and_uint8_quantization_are_refused(files, tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fp32, _, _, calibration = files

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": calibration[:8]}])

        def get_next(self):
            return next(self.batches, None)

    default = tmp_path / "default.onnx"  # onnxruntime's defaults: int8 but asymmetric, int32 biases
    quantize_static(str(fp32), str(default), Reader(), quant_format=QuantFormat.QDQ)
    with pytest.raises(EdgekitError) as info:
        check_tensorrt_qdq(default)
    assert "\n" not in str(info.value)  # names the first Q/DQ in the file: an int32 bias DequantizeLinear
    assert re.search(r"(Quantize|Dequantize)Linear '[^']+' has type int32$", str(info.value))
    for extra, why in (({"QuantizeBias": False}, r"has zero point -?\d+, not 0$"),
                       ({"QuantizeBias": False, "ActivationSymmetric": True}, None)):
        path = tmp_path / "variant.onnx"
        quantize_static(str(fp32), str(path), Reader(), quant_format=QuantFormat.QDQ, extra_options=extra)
        if why:
            with pytest.raises(EdgekitError, match=r"QuantizeLinear 'input_QuantizeLinear' " + why):
                check_tensorrt_qdq(path)
        else:
            assert check_tensorrt_qdq(path)["quantize_nodes"] > 0  # int8, symmetric, float bias: accepted
    u8 = tmp_path / "uint8.onnx"  # uint8 activations, the form onnxruntime's x86 kernels like
    quantize_static(str(fp32), str(u8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    extra_options={"QuantizeBias": False})
    with pytest.raises(EdgekitError, match=r"QuantizeLinear 'input_QuantizeLinear' has type uint8$"):
        check_tensorrt_qdq(u8)


def test_nonzero_zero_point_and_plain_files_are_refused(files, tmp_path):
    fp32, qdq, _, _ = files
    with pytest.raises(EdgekitError, match="no QuantizeLinear/DequantizeLinear nodes"):
        check_tensorrt_qdq(fp32)
    proto = onnx.load(str(qdq))
    inits = {i.name: i for i in proto.graph.initializer}
    first_q = next(n for n in proto.graph.node if n.op_type == "QuantizeLinear")
    inits[first_q.input[2]].CopyFrom(numpy_helper.from_array(np.array(3, dtype=np.int8), first_q.input[2]))
    shifted = tmp_path / "shifted.onnx"
    onnx.save(proto, str(shifted))
    with pytest.raises(EdgekitError, match=f"QuantizeLinear '{first_q.name}' has zero point 3, not 0"):
        check_tensorrt_qdq(shifted)


def test_fp16_copy_for_trt11_keeps_float32_io(files, tmp_path):
    fp32, _, _, _ = files
    out = onnx_for_tensorrt("fp16", fp32, tmp_path / "fp16.onnx")
    proto = onnx.load(str(out))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weights = [i for i in proto.graph.initializer if i.dims and len(i.dims) == 4]
    assert weights and all(w.data_type == onnx.TensorProto.FLOAT16 for w in weights)
    x = np.random.default_rng(2).standard_normal((8, 3, 32, 32)).astype(np.float32)
    ref = run(fp32, x)
    assert np.abs(run(out, x) - ref).max() <= 1e-2 * np.abs(ref).max()
    assert onnx_for_tensorrt("fp32", fp32, tmp_path / "x.onnx") == fp32
    assert convert_fp16_for_tensorrt(fp32, tmp_path / "again.onnx")["io"] == "float32"


@pytest.mark.parametrize("bad", [np.zeros((3, 32, 32), np.float32), np.full((2, 3, 8, 8), np.nan, np.float32)])
def test_bad_calibration_data_is_refused(files, tmp_path, bad):
    fp32, _, _, _ = files
    with pytest.raises(EdgekitError, match="calibration data"):
        quantize_for_tensorrt(fp32, tmp_path / "x.onnx", bad)
