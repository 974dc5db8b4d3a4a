import numpy as np
import onnx
import pytest
import torch
from tiny_data import NEEDS_VNNI_FOR_ORT_INT8

from edgekit.exporters.onnx import export_onnx
from edgekit.exporters.onnx_qdq import UINT8
from edgekit.quant import pt2e, scheme
from edgekit.quant.census import onnx_census
from edgekit.runtimes import onnxruntime, open_session


@pytest.fixture
def int8_onnx(tiny, batches, tmp_path):
    converted = pt2e.ptq(pt2e.capture(tiny, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "tiny.onnx"
    export_onnx(converted, batches[0][:1], path, int8_weights=onnxruntime.int8_weight_type())
    return converted, path


def _weight_types(proto) -> set[int]:
    inits = {i.name: i for i in proto.graph.initializer}
    return {inits[n.input[0]].data_type for n in proto.graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].data_type != 6}  # int32


@pytest.mark.parametrize("weights", ["int8", "uint8"])
def test_exported_qdq_has_uint8_activations_and_the_chosen_weights(tiny, batches, tmp_path, weights):
    converted = pt2e.ptq(pt2e.capture(tiny, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "tiny.onnx"
    result = export_onnx(converted, batches[0][:1], path, int8_weights=weights)
    proto = onnx.load(str(path))
    inits = {i.name: i for i in proto.graph.initializer}
    quantize = [n for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    assert quantize and all(inits[n.input[2]].data_type == UINT8 for n in quantize)
    assert _weight_types(proto) == {onnx.TensorProto.INT8 if weights == "int8" else UINT8}
    assert any("stored as uint8" in note for note in result.notes) == (weights == "uint8")
    if weights == "uint8":  # the same numbers: unfused (every Q/DQ evaluated in float) both files agree exactly
        import onnxruntime as ort

        int8_path = tmp_path / "int8.onnx"
        export_onnx(converted, batches[0][:1], int8_path, int8_weights="int8")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        x = batches[3].numpy()
        same = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
                for p in (path, int8_path)]
        np.testing.assert_array_equal(*same)


def test_uint8_weights_run_exactly_in_onnxruntime_on_every_host(gated, batches, tmp_path):
    """u8·u8 kernels do not saturate: the file matches the quantized PyTorch model on AVX2-only hosts too."""
    converted = pt2e.ptq(pt2e.capture(gated, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "gated.onnx"
    export_onnx(converted, batches[0][:1], path, int8_weights="uint8")
    census = onnx_census(path)
    assert census["int8_op_types"].get("QLinearConv") == 4 and "Conv" not in census["float_op_types"]
    out = open_session(path, threads=1).run(batches[3].numpy())
    ref = converted(batches[3]).detach().numpy()
    assert np.abs(out - ref).max() < 1e-3 * np.abs(ref).max()


@pytest.mark.parametrize("machine,flags,expected", [
    ("x86_64", ["avx2", "fma"], "uint8"), ("x86_64", ["avx2", "avx512f", "avx512_vnni"], "int8"),
    ("x86_64", ["avx2", "avx_vnni"], "int8"), ("aarch64", ["asimd", "asimddp"], "int8"),
])
def test_the_host_picks_the_weights_its_onnxruntime_runs_exactly(monkeypatch, machine, flags, expected):
    monkeypatch.setattr(onnxruntime.platform, "machine", lambda: machine)
    monkeypatch.setattr("edgekit.runtimes.worker.cpu_info", lambda: ("cpu", flags))
    assert onnxruntime.int8_weight_type() == expected
    assert onnxruntime.host_export_defaults() == {"int8_weights": expected}


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


@pytest.mark.parametrize("weights", ["uint8", pytest.param("int8", marks=NEEDS_VNNI_FOR_ORT_INT8)])
def test_sigmoid_gates_run_as_integer_kernels(gated, batches, tmp_path, weights):
    converted = pt2e.ptq(pt2e.capture(gated, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "gated.onnx"
    export_onnx(converted, batches[0][:1], path, int8_weights=weights)
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
