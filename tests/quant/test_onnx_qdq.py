import numpy as np
import onnx
import pytest
import torch

from edgekit.exporters.onnx import export_onnx
from edgekit.quant import pt2e, scheme
from edgekit.quant.census import onnx_census
from edgekit.quant.onnx_qdq import UINT8
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


class GatedNet(torch.nn.Module):
    """SiLU activations and a squeeze-excite gate: the sigmoid patterns EfficientNet and MobileViT are made of."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.reduce = torch.nn.Conv2d(8, 4, 1)
        self.expand = torch.nn.Conv2d(4, 8, 1)
        self.pw = torch.nn.Conv2d(8, 8, 1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = torch.nn.functional.silu(self.stem(x))
        gate = torch.sigmoid(self.expand(torch.nn.functional.silu(self.reduce(x.mean((2, 3), keepdim=True)))))
        return self.head(self.pw(x * gate).mean((2, 3)))


def test_sigmoid_gates_run_as_integer_kernels(batches, tmp_path):
    torch.manual_seed(0)
    model = GatedNet().eval()
    converted = pt2e.ptq(pt2e.capture(model, batches[0][:1]), scheme.xnnpack_quantizer(), batches)
    path = tmp_path / "gated.onnx"
    result = export_onnx(converted, batches[0][:1], path)
    assert any("2 sigmoid gates" in note for note in result.notes)  # the SE sigmoid is annotated already
    census = onnx_census(path)
    assert census["int8_op_types"].get("QLinearSigmoid") == 3 and census["int8_op_types"].get("QLinearMul") == 3
    assert "Sigmoid" not in census["float_op_types"] and "Mul" not in census["float_op_types"]
    out = open_session(path, threads=1).run(batches[3].numpy())
    ref = converted(batches[3]).detach().numpy()
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_a_sigmoid_that_is_not_a_gate_is_left_alone():
    from onnx import TensorProto, helper

    from edgekit.quant.onnx_qdq import quantize_sigmoid_gates

    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
    zero = helper.make_tensor("z", TensorProto.INT8, [], [0])
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("Sigmoid", ["xd"], ["y"])]  # its output is the graph output, not a gated Mul
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [scale, zero])
    proto = helper.make_model(graph)
    assert quantize_sigmoid_gates(proto) == 0 and len(proto.graph.node) == 3


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


def test_gate_rewrite_keeps_the_graph_topologically_sorted():
    """A float reader of the gated product listed before its quantize is rewired to the dequantized copy."""
    from onnx import TensorProto, helper

    from edgekit.quant.onnx_qdq import quantize_sigmoid_gates

    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]), helper.make_tensor("z", TensorProto.INT8, [], [0]),
             helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("Sigmoid", ["xd"], ["g"]),
             helper.make_node("Mul", ["xd", "g"], ["y"]),
             helper.make_node("ReduceMean", ["y", "axes"], ["m"]),  # a float reader, before the quantize of y
             helper.make_node("QuantizeLinear", ["y", "s", "z"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["yd"]),
             helper.make_node("Add", ["yd", "m"], ["out"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    assert quantize_sigmoid_gates(proto) == 1
    onnx.checker.check_model(proto, full_check=True)  # topologically sorted, types consistent
    reader = next(n for n in proto.graph.node if n.op_type == "ReduceMean")
    assert reader.input[0] == "yd"
    x = np.linspace(-3, 3, 4, dtype=np.float32).reshape(1, 4)
    import onnxruntime as ort

    out = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    reference = x * (1 / (1 + np.exp(-x)))
    assert np.abs(out - (reference + reference.mean(1, keepdims=True))).max() < 0.2  # within int8 rounding
