"""The one INT8 scheme edgekit deploys: XNNPACK's symmetric per-channel weights, per-tensor activations."""

from __future__ import annotations

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
    return quantizer


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
            "sigmoid_gates": "SiLU as x·sigmoid(x), the sigmoid int8 at a fixed 1/256 step, zero point -128",
            "zero_pads": "quantized like their input (exact)",
            "quantizer": "executorch XNNPACKQuantizer (PT2E)", "float_layers": list(float_layers)}
