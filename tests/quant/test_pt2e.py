import copy

import torch

from edgekit.quant import pt2e, scheme
from edgekit.quant.graph import fold_relu6, is_quantized, qdq_counts, unfold_weights


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
