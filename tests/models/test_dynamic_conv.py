"""Dynamic convolution (edgekit.models.families.dynamic_conv): the layer against static convolutions, its MAC count,
temperature annealing through the trainer, pruning, ONNX export with a dynamic batch, and the whole chain in every
runtime with the tiny variant."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_data import TINY_CHAIN_FLAGS
from torch.utils.flop_counter import FlopCounterMode

from edgekit.models import MODELS, resolve
from edgekit.models.build import create
from edgekit.models.complexity import count_macs, count_params
from edgekit.models.families.dynamic_conv import DepthwiseDynamicConv2d, DynamicConv2d, dynamic_conv

#: (in, out, kernel, stride, padding, groups): pointwise, dense 3x3 stride 2, depthwise 5x5 stride 2, grouped
GEOMETRIES = [(8, 16, 1, 1, 0, 1), (6, 10, 3, 2, 1, 1), (8, 8, 5, 2, 2, 8), (8, 12, 3, 1, 1, 2)]


def _dynamic(conv: torch.nn.Conv2d, num_kernels: int) -> DynamicConv2d:
    layer = type(dynamic_conv(conv))(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                     conv.padding, groups=conv.groups, num_kernels=num_kernels)
    return layer.eval()


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_one_kernel_is_a_static_convolution(geometry):
    cin, cout, k, s, p, g = geometry
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, k, s, p, groups=g)
    layer = _dynamic(conv, 1)
    assert isinstance(layer, DepthwiseDynamicConv2d) == (g == cin == cout)
    with torch.no_grad():
        layer.weight.copy_(conv.weight.flatten(1)[None])
        layer.bias.copy_(conv.bias[None])
    x = torch.randn(3, cin, 11, 13)
    torch.testing.assert_close(layer(x), conv(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("geometry", GEOMETRIES[1:3])
def test_each_image_is_convolved_with_its_own_mixture_of_kernels(geometry):
    cin, cout, k, s, p, g = geometry
    torch.manual_seed(0)
    layer = _dynamic(torch.nn.Conv2d(cin, cout, k, s, p, groups=g), 4)
    x = torch.randn(3, cin, 12, 12)
    with torch.no_grad():
        out, attention = layer(x), layer.kernel_weights(x)
        assert attention.shape == (3, 4) and not torch.allclose(attention[0], attention[1])
        for i in range(3):  # the paper's W(x) = sum_k pi_k(x) W_k, b(x) = sum_k pi_k(x) b_k
            weight = torch.einsum("k,koihw->oihw", attention[i], layer.kernels)
            expected = F.conv2d(x[i:i + 1], weight, attention[i] @ layer.bias, s, p, groups=g)
            torch.testing.assert_close(out[i:i + 1], expected, rtol=0, atol=1e-5)
        # a one-hot attention (saturated logits) picks one kernel
        layer.attention.fc2.weight.zero_()
        layer.attention.fc2.bias.copy_(torch.tensor([0.0, 0.0, 50.0, 0.0]))
        picked = F.conv2d(x, layer.kernels[2], layer.bias[2], s, p, groups=g)
        torch.testing.assert_close(layer(x), picked, rtol=0, atol=1e-5)


def test_macs_count_attention_aggregation_and_the_convolution():
    layer = _dynamic(torch.nn.Conv2d(16, 32, 3, 2, 1), 4)
    hidden, pixels = layer.attention.fc1.out_features, 8 * 8
    attention = 16 * hidden + hidden * 4
    aggregation = 4 * (32 * 16 * 9) + 4 * 32  # kernels and biases
    convolution = 32 * 16 * 9 * pixels
    counter = FlopCounterMode(display=False)  # what edgekit.models.complexity.count_macs counts
    with counter, torch.no_grad():
        layer(torch.zeros(1, 16, 16, 16))
    assert counter.get_total_flops() // 2 == attention + aggregation + convolution


def test_temperature_anneals_while_training_and_eval_uses_the_final_one():
    layer = _dynamic(torch.nn.Conv2d(8, 8, 3, 1, 1, groups=8), 4)
    assert layer.temperature == 30.0 and layer.final_temperature == 1.0
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        at_eval = layer.kernel_weights(x)
        layer.train()
        hot = layer.kernel_weights(x)
        layer.set_training_progress(0.05)
        assert layer.temperature == pytest.approx(15.5)
        layer.set_training_progress(0.5)
        assert layer.temperature == 1.0
        torch.testing.assert_close(layer.kernel_weights(x), at_eval)
        assert (hot.max(1).values - hot.min(1).values).max() < (at_eval.max(1).values - at_eval.min(1).values).max()
        layer.set_training_progress(0.0)  # a later run (fine-tuning) does not re-anneal a model that has annealed
        assert layer.temperature == 1.0


def test_the_trainer_reports_progress_before_every_update(monkeypatch):
    from edgekit.data.base import DataBundle, TensorImages
    from edgekit.models.build import Preprocessing
    from edgekit.stages.train import TrainConfig, train

    torch.manual_seed(0)
    model = create(resolve("test_dynamicconv"), 4, 32)
    layers = [m for m in model.modules() if isinstance(m, DynamicConv2d)]
    seen = []
    first = layers[0]
    original = first.forward

    def recording(x):
        if first.training:
            seen.append(first.temperature)
        return original(x)

    monkeypatch.setattr(first, "forward", recording)
    prep = Preprocessing((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear", 1.0)
    images, labels = torch.randint(0, 255, (40, 1, 32, 32), dtype=torch.uint8), torch.arange(40) % 4
    data = DataBundle("tiny", train=TensorImages(images, labels, 32, prep, train=True),
                      val=TensorImages(images[:8], labels[:8], 32, prep, train=False), num_classes=4,
                      class_names=None, has_labels=True)
    train(model, data, TrainConfig(epochs=2, batch_size=8, eval_samples=8), label="test")
    steps = 10  # 2 epochs of 5 batches; the first update at progress 0, the second at 0.1: annealed
    assert seen == pytest.approx([30.0] + [1.0] * (steps - 1))
    assert all(m.temperature == 1.0 for m in layers)


def test_models_are_registered_with_their_sizes():
    assert {"dy_mbv3_small", "dy_mbv3_large", "dy_resnet18", "test_dynamicconv"} <= set(MODELS.names())
    for name, static, params in (("dy_mbv3_small", "mobilenetv3_small_100", 4.40e6),
                                 ("dy_resnet18", "resnet18", 45.49e6)):
        spec = resolve(name)
        assert resolve(name.replace("dy_", "dynamicconv_")) == spec
        assert spec.plugin and "1912.03458" in spec.notes and spec.family.startswith("dyconv-")
        with torch.device("meta"):
            model, timm_model = create(spec, 1000, 224), create(resolve(f"timm:{static}"), 1000, 224)
            assert count_params(model) == pytest.approx(params, rel=0.005)
            assert 1.0 < count_macs(model, 224) / count_macs(timm_model, 224) < 1.06
        kinds = {type(m) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, DynamicConv2d))}
        assert DynamicConv2d in kinds and torch.nn.Conv2d in kinds  # the stem stays static
    model = create(resolve("test_dynamicconv"), 10, 32)
    assert {type(m) for m in model.modules()} >= {DynamicConv2d, DepthwiseDynamicConv2d}
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_pruning_keeps_kernels_biases_and_attention_consistent():
    from edgekit.pruning import PruneConfig, prune

    torch.manual_seed(0)
    model = create(resolve("test_dynamicconv"), 10, 64)
    x = torch.randn(2, 3, 64, 64)
    macs = count_macs(model, 64)
    changes, _, _ = prune(model, PruneConfig(0.3), x[:1])
    assert changes and count_macs(model, 64) < 0.85 * macs
    layers = [m for m in model.modules() if isinstance(m, DynamicConv2d)]
    assert any(m.out_channels < 48 and m.kernel_size == (1, 1) for m in layers)  # the 48-wide expansion
    for m in layers:
        assert m.kernels.shape == (4, m.out_channels, m.in_channels // m.groups, *m.kernel_size)
        assert m.bias.shape == (4, m.out_channels) and m.attention.fc1.in_features == m.in_channels
        if isinstance(m, DepthwiseDynamicConv2d):
            assert m.groups == m.in_channels == m.out_channels
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_a_grouped_dynamic_convolution_is_refused_by_pruning():
    from edgekit.core.errors import EdgekitError
    from edgekit.pruning import PruneConfig, prune

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                _dynamic(torch.nn.Conv2d(8, 16, 3, 1, 1, groups=2), 4), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(16, 4))
    with pytest.raises(EdgekitError, match="grouped DynamicConv2d"):
        prune(model, PruneConfig(0.3), torch.randn(1, 3, 16, 16))


def test_onnx_keeps_per_image_mixing_with_a_dynamic_batch(tmp_path):
    from edgekit.exporters.onnx import export_onnx
    from edgekit.runtimes import open_session

    torch.manual_seed(0)
    model = create(resolve("test_dynamicconv"), 10, 32)
    for m in model.modules():  # sharper attention than at initialisation: images pick different kernels
        if isinstance(m, DynamicConv2d):
            torch.nn.init.normal_(m.attention.fc2.weight, std=2.0)
    x = torch.randn(5, 3, 32, 32)
    export_onnx(model, x[:1], tmp_path / "m.onnx")
    with torch.no_grad():
        expected = model(x).numpy()
    got = open_session(tmp_path / "m.onnx").run(x.numpy())  # batch 5: traced with 2
    assert np.abs(got - expected).max() < 1e-4 * max(1.0, np.abs(expected).max())


def test_the_bias_joins_the_product_in_one_unquantized_op():
    """int8 captures never quantize a dynamic convolution's product and its bias apart: once a BatchNorm is folded,
    both are large and nearly cancel, and per-tensor steps for each would be large against their sum."""
    from edgekit.quant.pt2e import calibrate, capture, convert, prepare
    from edgekit.quant.scheme import xnnpack_quantizer

    torch.manual_seed(0)
    model = create(resolve("test_dynamicconv"), 10, 32).eval()
    x = torch.randn(4, 3, 32, 32)
    prepared = prepare(capture(model, x), xnnpack_quantizer(), qat=False)
    calibrate(prepared, [x])
    graph = convert(prepared).graph
    products = [n for n in graph.nodes if n.target in (torch.ops.aten.baddbmm.default, torch.ops.aten.bmm.default)]
    dynamic = sum(isinstance(m, DynamicConv2d) for m in model.modules())
    assert len(products) == dynamic and all(n.target == torch.ops.aten.baddbmm.default for n in products)
    dequantize = torch.ops.quantized_decomposed.dequantize_per_tensor.default
    assert all(getattr(n.args[0], "target", None) != dequantize for n in products)  # the mixed bias stays float


def test_compress_prunes_quantizes_with_qat_and_verifies_in_onnxruntime(cli_fast, tmp_path):
    """QAT, whose capture keeps the BatchNorms PTQ folds (its weights go back into the float model by name; PTQ's
    folding: tests/quant/test_norm_folding.py). One format per family keeps CI short (its .pte took 74 s here, ONNX
    a third of that; TFLite: T2T-ViT's test); every format of every family: benchmarks/int8_matrix.py and
    benchmarks/families_fmnist.py."""
    out = tmp_path / "run"
    result = cli_fast("compress", "test_dynamicconv", *TINY_CHAIN_FLAGS, "--int8", "qat", "--qat-epochs", "0.5",
                      "--formats", "onnx", "--calib-samples", "32", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "test_dynamicconv" and report["source"] == "edgekit.models.families.dynamic_conv"
    assert report["ok"], [a.get("error") for a in report["artifacts"]]
    assert [a["format"] for a in report["artifacts"]] == ["onnx"]
    for artifact, baseline in zip(report["artifacts"], report["baseline"]):
        assert artifact["precision"] == "int8" and artifact["status"] == "ok" and artifact["parity"]["passed"]
        assert baseline["precision"] == "fp32" and baseline["parity"]["passed"]
        assert artifact["params"] < baseline["params"] and artifact["macs"] < baseline["macs"]  # pruned
    assert json.loads((out / "model" / "model.json").read_text())["edits"]


def test_ptq_ranges_are_batch_means_and_the_report_says_so(cli_fast, tmp_path):
    """--calib-observer auto gives DynamicConv batch-mean ranges (edgekit.quant.observers; the choice per family and
    --calib-observer overriding it: tests/quant/test_observers.py)."""
    out = tmp_path / "run"
    result = cli_fast("compress", "test_dynamicconv", "--data", "synthetic", "--epochs", "0", "--int8", "ptq",
                      "--formats", "onnx", "--no-bench", "--eval-samples", "16", "--parity-samples", "4",
                      "--calib-samples", "16", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    stage = next(s for s in json.loads((out / "report.json").read_text())["stages"] if s["name"] == "int8")
    assert stage["metrics"]["scheme"]["activation_ranges"] == "batch-mean observers"
    assert "(ranges: batch-mean observers)" in (out / "report.md").read_text()


def test_condconv_efficientnets_are_in_the_zoo_and_onnx_is_refused_before_any_work(cli_fast, tmp_path):
    for name, timm_id in (("effnet_cc_b0_4e", "efficientnet_cc_b0_4e"), ("effnet_cc_b0_8e", "efficientnet_cc_b0_8e"),
                          ("effnet_cc_b1_8e", "efficientnet_cc_b1_8e")):
        spec = resolve(name)
        assert spec.timm_id == timm_id and resolve(timm_id) == spec and "1904.04971" in spec.notes
    # pruning's refusal: tests/pruning/test_prune_families.py (REFUSED)
    result = cli_fast("compress", "effnet_cc_b0_4e", "--data", "synthetic", "--formats", "onnx,tflite",
                      "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and not (tmp_path / "run" / "report.json").exists()
    assert "--formats onnx" in result.stderr and "CondConv2d" in result.stderr and "Traceback" not in result.stderr
    result = cli_fast("compress", "effnet_cc_b0_4e", "--data", "synthetic", "--prune", "0.3", "--formats", "tflite",
                      "--out", str(tmp_path / "pruned"))
    assert result.returncode == 2 and not (tmp_path / "pruned" / "report.json").exists()
    assert "--prune: condconv (CondConv2d) cannot be pruned" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("layer_decay", [None, 0.8])
def test_the_kernel_banks_learn_at_k_times_the_base_rate(layer_decay):
    """Each of K kernels gets 1/K of the mixed kernel's gradient while the attention is near uniform: the trainer
    gives the banks (weights and biases) K times the rate, on top of any layer-wise decay."""
    from edgekit.stages.train import TrainConfig, _optimizer, _schedule

    model = create(resolve("test_dynamicconv").with_args({"num_kernels": 3}), 4, 64)
    reference = create(resolve("test_dynamicconv").with_args({"num_kernels": 3}), 4, 64)
    lrs = []
    for scaled in (True, False):
        config = TrainConfig(epochs=1, lr=0.1, optimizer="sgd", layer_decay=layer_decay)
        if not scaled:  # the same model without the marks: what every parameter would get
            for m in reference.modules():
                if isinstance(m, DynamicConv2d):
                    m.parameter_lr_scales = dict
        optimizer = _optimizer(model if scaled else reference, [], config)
        _schedule(optimizer, steps=100, warmup_fraction=0.0)
        names = {id(p): n for n, p in (model if scaled else reference).named_parameters()}
        lrs.append({names[id(p)]: group["lr"] for group in optimizer.param_groups for p in group["params"]})
    scaled, plain = lrs
    assert scaled.keys() == plain.keys() == {n for n, _ in model.named_parameters()}  # each parameter once
    banks = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, DynamicConv2d) for p in ("weight", "bias")}
    assert banks and all(scaled[n] == pytest.approx(3 * plain[n]) for n in banks)
    assert all(scaled[n] == pytest.approx(plain[n]) for n in plain if n not in banks)
