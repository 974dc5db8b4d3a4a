import copy
from operator import attrgetter

import numpy as np
import pytest
import torch

from edgekit.exporters.tflite import unfold_weights
from edgekit.models.program import is_quantized
from edgekit.quant import pt2e, scheme
from edgekit.quant.graph import fold_relu6, qdq_counts


def _quantize(model, batches, float_layers=()):
    graph = pt2e.capture(model, batches[0][:1])
    return pt2e.ptq(graph, scheme.xnnpack_quantizer(False, tuple(float_layers)), batches)


def test_ptq_model_is_integer_and_close_to_float(tiny, batches):
    converted = _quantize(tiny, batches)
    assert is_quantized(converted) and not is_quantized(tiny)
    counts = qdq_counts(converted)
    assert counts["dequantize_per_channel"] == 4  # one per conv/linear weight, per output channel
    x = batches[0]
    with torch.no_grad():
        ref, out = tiny(x), converted(x)
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()
    assert converted(torch.randn(3, 3, 16, 16)).shape == (3, 4)  # the batch stays dynamic


def test_minmax_observers_keep_the_calibration_range_and_the_histogram_narrows_it(tiny, batches):
    def ranges(observer):
        graph = pt2e.capture(tiny, batches[0][:1])
        return pt2e.observer_ranges(pt2e.ptq(graph, scheme.xnnpack_quantizer(observer=observer), batches))

    minmax, histogram = ranges("minmax"), ranges("histogram")
    assert [r["tensor"] for r in minmax] == [r["tensor"] for r in histogram]
    images = torch.cat(batches)
    first = minmax[0]  # the input's quantizer: min/max covers every calibration pixel, to within one step
    assert first["min"] <= images.min() + first["scale"] and first["max"] >= images.max() - first["scale"]
    assert all(m["max"] - m["min"] >= h["max"] - h["min"] - 1e-6 for m, h in zip(minmax, histogram))
    assert sum(m["max"] - m["min"] for m in minmax) > sum(h["max"] - h["min"] for h in histogram)
    with pytest.raises(ValueError, match="not one of histogram, minmax"):
        scheme.xnnpack_quantizer(observer="percentile")


def test_relu6_is_folded_into_the_quantizer(tiny, batches):
    converted = _quantize(tiny, batches)
    targets = {n.target for n in converted.graph.nodes if n.op == "call_function"}
    assert torch.ops.aten.hardtanh.default not in targets
    assert fold_relu6(converted) == 0  # nothing left to fold


def test_fold_relu6_keeps_outputs(tiny, batches):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    graph = pt2e.capture(tiny, batches[0][:1])
    prepared = pt2e.prepare(graph, scheme.xnnpack_quantizer(), qat=False)
    pt2e.calibrate(prepared, batches)
    plain = convert_pt2e(copy.deepcopy(prepared))
    folded = copy.deepcopy(plain)
    assert fold_relu6(folded) == 2
    x = batches[1]
    step = max(r["scale"] for r in pt2e.observer_ranges(folded))
    # the folded quantizer has a finer step over [0, 6]: outputs move by at most a few steps, never more
    assert (folded(x) - plain(x)).abs().max() < 4 * step * 8


def test_an_average_pool_gets_a_range_of_its_own(tiny, batches):
    """TinyNet's pooled features span less than the feature map; they get their own, finer step."""
    converted = _quantize(tiny, batches)
    mean = next(n for n in converted.graph.nodes if n.target == torch.ops.aten.mean.dim)
    pooled_q = next(iter(mean.users))
    assert pooled_q.target == torch.ops.quantized_decomposed.quantize_per_tensor.default
    assert pooled_q.args[1] < 0.8 * mean.args[0].args[1]  # its scale vs the scale of the map it averages
    pooled = []  # what the float head receives on the calibration images: the range must still cover it
    hook = tiny.head.register_forward_pre_hook(lambda module, args: pooled.append(args[0]))
    with torch.no_grad():
        tiny(torch.cat(batches))
    hook.remove()
    top = pooled_q.args[1] * (pooled_q.args[4] - pooled_q.args[2])
    assert top >= 0.9 * pooled[0].max()


@pytest.fixture
def wide_weights(tiny):
    """TinyNet with every other depthwise channel's weights 40x larger: large weight scales, coarse bias steps."""
    with torch.no_grad():
        tiny.dw.weight[::2] *= 40
        tiny.dw.bias.uniform_(-3, 3)
        tiny.pw.bias.uniform_(-1, 1)
    return tiny


def test_biases_sit_on_the_int32_grid(wide_weights, batches):
    converted = _quantize(wide_weights, batches)
    layers = [n for n in converted.graph.nodes if n.target in (torch.ops.aten.conv2d.default,
                                                               torch.ops.aten.linear.default)]
    biased = [n for n in layers if len(n.args) > 2 and n.args[2] is not None]
    assert len(biased) == 4  # the stem (its folded batch norm), dw, pw and head
    for node in biased:
        x_scale = node.args[0].args[1]
        w_scale = attrgetter(node.args[1].args[1].target)(converted)
        steps = attrgetter(node.args[2].target)(converted).double() / (x_scale * w_scale.double())
        assert (steps - steps.round()).abs().max() < 0.05, node.name  # float32 biases: ~1e-7 relative


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "pte"])
def test_every_runtime_adds_the_bias_as_the_reference_does(wide_weights, batches, tmp_path, fmt):
    """The runtimes add biases in int32; with the reference's biases on that grid, the files match it exactly
    (with float biases, 2% of this net's outputs were one step off in all three runtimes)."""
    from edgekit.core.formats import FORMATS
    from edgekit.exporters import export
    from edgekit.runtimes import open_session

    converted = _quantize(wide_weights, batches)
    result = export(fmt, converted, batches[0][:1], tmp_path / f"wide{FORMATS.get(fmt).suffix}")
    session = open_session(result.path, threads=1)
    x = torch.rand(32, 3, 16, 16, generator=torch.Generator().manual_seed(5)) * 4 - 2
    out = np.concatenate([session.run(x[i:i + 1].numpy()) for i in range(len(x))])
    with torch.no_grad():
        ref = converted(x).numpy()
    step = next(n for n in converted.graph.nodes if n.op == "output").args[0][0].args[1]
    assert np.abs(out - ref).max() < 0.01 * step


def test_unfold_weights_is_exact(tiny, batches):
    converted = _quantize(tiny, batches)
    unfolded = unfold_weights(copy.deepcopy(converted))
    assert qdq_counts(unfolded)["quantize_per_channel"] == 4
    x = batches[2]
    assert torch.equal(converted(x), unfolded(x))


def test_float_layers_stay_float(tiny, batches):
    converted = _quantize(tiny, batches, float_layers=("head",))
    assert qdq_counts(converted)["dequantize_per_channel"] == 3


def test_observer_ranges_cover_relu6_output(tiny, batches):
    ranges = pt2e.observer_ranges(_quantize(tiny, batches))
    assert ranges and all(r["max"] > r["min"] and r["scale"] > 0 for r in ranges)
    assert any(r["min"] == 0.0 and r["max"] <= 6.0 for r in ranges)  # the folded ReLU6 outputs


def test_nncf_backend_quantizes_the_same_scheme(tiny, batches):
    from edgekit.quant.backends import QUANT_BACKENDS

    converted = QUANT_BACKENDS.get("nncf").quantize(pt2e.capture(tiny, batches[0][:1]),
                                                  scheme.xnnpack_quantizer(), batches)
    assert qdq_counts(converted)["dequantize_per_channel"] == 4
    x = batches[0]
    assert (converted(x) - tiny(x)).abs().max() < 0.1 * tiny(x).abs().max()


def test_nncf_backend_gets_the_same_gate_rewrite(gated, batches):
    """NNCF orders squeeze-excite's mean before the product's quantize: the rewrite must leave a valid graph."""
    from edgekit.quant.backends import QUANT_BACKENDS

    converted = QUANT_BACKENDS.get("nncf").quantize(pt2e.capture(gated, batches[0][:1]),
                                                  scheme.xnnpack_quantizer(), batches)
    assert not {torch.ops.aten.silu.default, torch.ops.aten.silu_.default} & {n.target for n in converted.graph.nodes}
    x = batches[1]
    with torch.no_grad():
        assert (converted(x) - gated(x)).abs().max() < 0.1 * gated(x).abs().max()


class _WindowPad(torch.nn.Module):
    """Swin/TinyViT-style window padding of a quantized tensor, followed by float-only work (softmax)."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Linear(8, 4)

    def forward(self, x):
        y = torch.nn.functional.pad(self.conv(x).permute(0, 2, 3, 1), (0, 0, 0, 5, 0, 5))
        return self.head(y.reshape(y.shape[0], -1, 8).softmax(-1)).mean(1)


def test_pad_of_a_quantized_tensor_stays_integer_and_loads_in_executorch(tmp_path):
    from edgekit.exporters import export
    from edgekit.runtimes import open_session

    torch.manual_seed(0)
    model, x = _WindowPad().eval(), torch.randn(8, 3, 9, 9)
    converted = _quantize(model, [x])
    pads = [n for n in converted.graph.nodes if n.target == torch.ops.aten.pad.default]
    assert pads and all(u.target == torch.ops.quantized_decomposed.quantize_per_tensor.default
                        for pad in pads for u in pad.users)
    # XNNPACK refuses a pad with an int8 input and a float output ("Failed to load method forward") without it
    path = export("pte", converted, x[:1], tmp_path / "pad.pte").path
    out = open_session(path, threads=1).run(x[:2].numpy())
    with torch.no_grad():
        ref = converted(x[:2]).numpy()
    assert abs(out - ref).max() < 1e-4


def test_requantized_pad_changes_no_value():
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from edgekit.quant.graph import requantize_pads

    torch.manual_seed(0)
    model, x = _WindowPad().eval(), torch.randn(8, 3, 9, 9)
    prepared = pt2e.prepare(pt2e.capture(model, x[:1]), scheme.xnnpack_quantizer(), qat=False)
    pt2e.calibrate(prepared, [x])
    plain = convert_pt2e(prepared)
    padded = copy.deepcopy(plain)
    assert requantize_pads(padded) == 1 and requantize_pads(padded) == 0
    assert torch.equal(plain(x), padded(x))


def test_silu_and_gate_sigmoids_are_quantized_at_a_fixed_step(gated, batches):
    from edgekit.quant.graph import GATE_SCALE, GATE_ZERO_POINT, quantize_sigmoid_gates

    converted = _quantize(gated, batches)
    targets = [n.target for n in converted.graph.nodes if n.op == "call_function"]
    assert not {torch.ops.aten.silu.default, torch.ops.aten.silu_.default} & set(targets)
    sigmoids = [n for n in converted.graph.nodes if n.target == torch.ops.aten.sigmoid.default]
    assert len(sigmoids) == 3
    quantizers = [next(iter(s.users)).args[1:3] for s in sigmoids]
    assert quantizers.count((GATE_SCALE, GATE_ZERO_POINT)) == 2  # the SE gate keeps its own observed quantizer
    assert quantize_sigmoid_gates(converted) == 0  # nothing left
    with torch.no_grad():
        ref, out = gated(batches[1]), converted(batches[1])
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()


def test_a_sigmoid_that_is_not_a_gate_stays_float(batches):
    class Scores(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.sigmoid(self.conv(x)).mean((2, 3))

    converted = _quantize(Scores().eval(), batches)
    sigmoid = next(n for n in converted.graph.nodes if n.target == torch.ops.aten.sigmoid.default)
    assert [u.target for u in sigmoid.users] == [torch.ops.aten.mean.dim]


@pytest.mark.parametrize("fmt", ["tflite", "pte"])
def test_every_format_runs_the_quantized_gates_exactly(gated, batches, tmp_path, fmt):
    """The gates' rounding is part of the one integer model: LiteRT and ExecuTorch reproduce it bit for bit."""
    from edgekit.core.formats import FORMATS
    from edgekit.exporters import export
    from edgekit.quant.census import tflite_census
    from edgekit.runtimes import open_session

    converted = _quantize(gated, batches)
    result = export(fmt, converted, batches[0][:1], tmp_path / f"gated{FORMATS.get(fmt).suffix}")
    out = open_session(result.path, threads=1).run(batches[3][:2].numpy())
    with torch.no_grad():
        ref = converted(batches[3][:2]).numpy()
    assert abs(out - ref).max() < 1e-3 * abs(ref).max()
    if fmt == "tflite":
        census = tflite_census(result.path)
        assert census["int8_op_types"].get("LOGISTIC") == 3 and census["int8_op_types"].get("MUL") == 3
    else:
        assert "sigmoid" not in result.fallback_ops and "mul" not in result.fallback_ops
