import numpy as np
import onnx
import pytest
import torch
from tiny_data import NEEDS_VNNI_FOR_ORT_INT8

from edgekit.exporters.onnx import export_onnx
from edgekit.exporters.onnx_qdq import UINT8
from edgekit.quant import pt2e, scheme
from edgekit.quant.census import onnx_census
from edgekit.runtimes import open_session


@pytest.fixture
def int8_onnx(tiny, batches, tmp_path):
    converted = pt2e.ptq(pt2e.capture(tiny, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "tiny.onnx"
    export_onnx(converted, batches[0][:1], path)
    return converted, path


def test_exported_qdq_has_uint8_activations_and_int8_weights(int8_onnx):
    _, path = int8_onnx
    proto = onnx.load(str(path))
    inits = {i.name: i for i in proto.graph.initializer}
    quantize = [n for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    assert quantize and all(inits[n.input[2]].data_type == UINT8 for n in quantize)
    weights = [inits[n.input[0]] for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert weights and all(w.data_type == onnx.TensorProto.INT8 for w in weights)


def test_onnxruntime_matches_the_quantized_pytorch_model(int8_onnx, batches):
    converted, path = int8_onnx
    x = batches[3].numpy()
    out = open_session(path, threads=1).run(x)
    ref = converted(batches[3]).detach().numpy()
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_census_sees_integer_kernels(int8_onnx):
    census = onnx_census(int8_onnx[1])
    assert census["int8_ops"] >= 4  # QLinearConv ×3 + QGemm (or MatMulInteger)
    assert "Conv" not in census["float_op_types"] and "Clip" not in census["float_op_types"]


@NEEDS_VNNI_FOR_ORT_INT8
def test_sigmoid_gates_run_as_integer_kernels(gated, batches, tmp_path):
    converted = pt2e.ptq(pt2e.capture(gated, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "gated.onnx"
    export_onnx(converted, batches[0][:1], path)
    census = onnx_census(path)
    assert census["int8_op_types"].get("QLinearSigmoid") == 3 and census["int8_op_types"].get("QLinearMul") == 3
    assert "Sigmoid" not in census["float_op_types"] and "Mul" not in census["float_op_types"]
    out = open_session(path, threads=1).run(batches[3].numpy())
    ref = converted(batches[3]).detach().numpy()
    assert np.abs(out - ref).max() < 1e-3 * np.abs(ref).max()  # the gates' rounding is in the reference too


class TokenNet(torch.nn.Module):
    """A linear on [batch, tokens, channels], as in every transformer block."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.mlp = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        tokens = self.stem(x).flatten(2).transpose(1, 2)
        return self.head(torch.relu(self.mlp(tokens)).mean(1))


def test_census_counts_token_linears_as_integer_gemms(batches, tmp_path):
    torch.manual_seed(0)
    model = TokenNet().eval()
    converted = pt2e.ptq(pt2e.capture(model, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "tokens.onnx"
    export_onnx(converted, batches[0][:1], path)
    census = onnx_census(path)
    # onnxruntime runs the 3-D linear as MatMulIntegerToFloat (u8·s8 GEMM with a float output): integer math
    assert census["int8_op_types"].get("MatMulIntegerToFloat") == 1
    assert not {"MatMul", "MatMulIntegerToFloat"} & set(census["float_op_types"])
