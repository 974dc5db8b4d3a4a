"""The one INT8 scheme edgekit deploys: XNNPACK's symmetric per-channel weights, per-tensor activations."""

from __future__ import annotations

#: bumped when the integer model a given input quantizes to changes (2: pools' own ranges, biases on the int32 grid;
#: 3: QAT ranges no longer follow the validation images, QAT keeps BatchNorm statistics)
VERSION = 3
WEIGHTS = "int8 symmetric, per output channel"
ACTIVATIONS = "int8 affine, per tensor"


#: how PTQ observes an activation's range: XNNPACK's default histogram (minimises the L2 quantization error, may
#: clip outliers), the plain min/max onnxruntime's and LiteRT's own quantizers calibrate with, or the mean of each
#: calibration batch's min/max (edgekit.quant.observers: for models whose rare inputs have outlier activations)
ACTIVATION_OBSERVERS = ("histogram", "minmax", "batch-mean")
#: families whose PTQ gets batch-mean ranges under --calib-observer auto: DynamicConv's per-input kernels give ~1% of
#: images activations 50-100x the median, and histogram ranges sized for them cost a 78%-FP32 dy_mbv3_small 18 points
#: of top-1 in PTQ (docs/int8.md, "Family coverage")
BATCH_MEAN_FAMILIES = frozenset({"dyconv-mbv3", "dyconv-resnet"})


def resolve_observer(requested: str, family: str | None) -> str:
    """The PTQ activation observer a run uses: `requested`, or for `auto` the family's (histogram by default)."""
    if requested != "auto":
        return requested
    return "batch-mean" if family in BATCH_MEAN_FAMILIES else "histogram"


def xnnpack_quantizer(qat: bool = False, float_layers: tuple[str, ...] = (), observer: str = "histogram"):
    """A PT2E quantizer for the scheme; `float_layers` (module names) stay in floating point; `observer` picks the
    PTQ activation observer (QAT's fake-quantizers track a moving min/max either way).

    ExecuTorch lowers exactly this scheme to XNNPACK, onnxruntime fuses its QDQ pairs into QLinear kernels and
    the LiteRT converter turns it into full-integer TFLite, so one quantized model serves all three formats.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    if observer not in ACTIVATION_OBSERVERS:
        raise ValueError(f"activation observer {observer!r} is not one of {', '.join(ACTIVATION_OBSERVERS)}")
    config = get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
    if observer != "histogram" and not qat:
        config = _with_activation_observer(config, observer)
    quantizer = XNNPACKQuantizer().set_global(config)
    if float_layers:
        quantizer.set_filter_function(lambda node: not inside(node, float_layers))
    return _with_pool_ranges(quantizer, config.output_activation)


def _with_pool_ranges(quantizer, spec):
    """`quantizer`, except that average pools get a range of their own (`spec`) instead of their input's.

    XNNPACK's quantizer lets a global average pool share its input's scale. The mean of a feature map spans much
    less than the map (an EfficientNet-Lite0's pooled features use a third of the head conv's range), and where a
    ReLU6 is folded after conversion the shared scale is the conv's pre-activation one, up to 3x wider again. The
    pooled features feed the classifier, so that coarse step flipped ~1% of test images' top-1. XNNPACK,
    onnxruntime's QLinearGlobalAveragePool and TFLite's MEAN all requantize, as onnxruntime's own quantizer
    assumes.
    """
    import torch
    from torchao.quantization.pt2e.quantizer import Quantizer, SharedQuantizationSpec

    pools = {torch.ops.aten.adaptive_avg_pool2d.default, torch.ops.aten.mean.dim, torch.ops.aten.mean.default}

    class PoolRangesQuantizer(Quantizer):
        def transform_for_annotation(self, model):
            return quantizer.transform_for_annotation(model)

        def annotate(self, model):
            quantizer.annotate(model)
            for node in model.graph.nodes:
                annotation = node.meta.get("quantization_annotation")
                if node.op == "call_function" and node.target in pools and annotation is not None \
                        and isinstance(annotation.output_qspec, SharedQuantizationSpec):
                    annotation.output_qspec = spec
            return model

        def validate(self, model):
            quantizer.validate(model)

    return PoolRangesQuantizer()


def _with_activation_observer(config, observer: str):
    """`config` with `observer` (minmax or batch-mean) on its activations (the same int8 affine per-tensor spec)."""
    import dataclasses

    from torchao.quantization.pt2e import MinMaxObserver

    from edgekit.quant.observers import BatchMeanMinMaxObserver

    kind = MinMaxObserver if observer == "minmax" else BatchMeanMinMaxObserver

    def replaced(spec):
        if spec is None:
            return None
        return dataclasses.replace(spec, observer_or_fake_quant_ctr=kind.with_args(eps=2**-12))

    return dataclasses.replace(config, input_activation=replaced(config.input_activation),
                               output_activation=replaced(config.output_activation))


def inside(node, module_names: tuple[str, ...]) -> bool:
    """Whether a graph node was traced inside one of `module_names` (torch.export's nn_module_stack)."""
    paths = [entry[0] for entry in (node.meta.get("nn_module_stack") or {}).values()]
    return any(path == name or path.startswith(name + ".") for path in paths for name in module_names)


def describe(float_layers: tuple[str, ...] = (), activation_ranges: str | None = None) -> dict:
    """The scheme as recorded in report.json; `activation_ranges` says how the activation ranges were set."""
    return {"activation_ranges": activation_ranges,
            "weights": WEIGHTS, "activations": ACTIVATIONS, "batch_norm": "folded into the preceding conv",
            "relu6": "folded into the quantizer of its input",
            "average_pools": "a range of their own (not their input's)",
            "biases": "on the int32 grid of input scale x weight scale, as the runtimes add them",
            "sigmoid_gates": "SiLU as x·sigmoid(x), the sigmoid int8 at a fixed 1/256 step, zero point -128",
            "zero_pads": "quantized like their input (exact)",
            "quantizer": "executorch XNNPACKQuantizer (PT2E)", "float_layers": list(float_layers)}
