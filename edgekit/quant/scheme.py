"""The one INT8 scheme edgekit deploys: XNNPACK's symmetric per-channel weights, per-tensor activations."""

from __future__ import annotations

WEIGHTS = "int8 symmetric, per output channel"
ACTIVATIONS = "int8 affine, per tensor"


#: how PTQ observes an activation's range: XNNPACK's default histogram (minimises the L2 quantization error, may
#: clip outliers) or the plain min/max onnxruntime's and LiteRT's own quantizers calibrate with
ACTIVATION_OBSERVERS = ("histogram", "minmax")


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
    if observer == "minmax" and not qat:
        config = _with_minmax_activations(config)
    quantizer = XNNPACKQuantizer().set_global(config)
    if float_layers:
        quantizer.set_filter_function(lambda node: not inside(node, float_layers))
    return quantizer


def _with_minmax_activations(config):
    """`config` with min/max observers on its activations (the same int8 affine per-tensor spec otherwise)."""
    import dataclasses

    from torchao.quantization.pt2e import MinMaxObserver

    def minmax(spec):
        return None if spec is None else dataclasses.replace(
            spec, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))

    return dataclasses.replace(config, input_activation=minmax(config.input_activation),
                               output_activation=minmax(config.output_activation))


def inside(node, module_names: tuple[str, ...]) -> bool:
    """Whether a graph node was traced inside one of `module_names` (torch.export's nn_module_stack)."""
    paths = [entry[0] for entry in (node.meta.get("nn_module_stack") or {}).values()]
    return any(path == name or path.startswith(name + ".") for path in paths for name in module_names)


def describe(float_layers: tuple[str, ...] = ()) -> dict:
    """The scheme as recorded in report.json."""
    return {"weights": WEIGHTS, "activations": ACTIVATIONS, "batch_norm": "folded into the preceding conv",
            "relu6": "folded into the quantizer of its input",
            "sigmoid_gates": "SiLU as x·sigmoid(x), the sigmoid int8 at a fixed 1/256 step, zero point -128",
            "zero_pads": "quantized like their input (exact)",
            "quantizer": "executorch XNNPACKQuantizer (PT2E)", "float_layers": list(float_layers)}
