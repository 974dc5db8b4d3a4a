"""Quantization backends: the engines that turn a captured graph into the int8 model (one registry)."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import torch

from edgekit.core.errors import require_modules
from edgekit.core.registry import Registry


@dataclass(frozen=True)
class QuantBackend:
    """A quantization engine: what it needs installed, whether it trains (QAT), and its PTQ entry point."""

    name: str
    description: str
    requires: tuple[str, ...]
    extra: str
    qat: bool
    ptq: str  # "module:function" (graph, quantizer, batches) -> converted graph
    # "module:function" (model, layers, batches, val, max_drop) -> {"float_layers": [...], ...}: the backend's own
    # accuracy control for --max-drop; None: edgekit's sensitivity search
    accuracy_control: str | None = None

    def check_installed(self) -> None:
        require_modules(self.requires, self.extra)

    def _call(self, target: str, *args):
        module_name, func_name = target.split(":")
        return getattr(importlib.import_module(module_name), func_name)(*args)

    def quantize(self, graph: torch.fx.GraphModule, quantizer, batches: list[torch.Tensor]) -> torch.fx.GraphModule:
        """Post-training quantization of `graph` calibrated on `batches`."""
        return self._call(self.ptq, graph, quantizer, batches)

    def float_layers_for(self, model: torch.nn.Module, layers: list[str], batches: list[torch.Tensor], val,
                         max_drop: float) -> dict:
        """The backend's accuracy-controlled choice of layers to keep in float (needs `accuracy_control`)."""
        return self._call(self.accuracy_control, model, layers, batches, val, max_drop)


QUANT_BACKENDS: Registry[QuantBackend] = Registry("quantization backend")

QUANT_BACKENDS.add("pt2e", QuantBackend(
    name="pt2e", description="PyTorch PT2E (torchao): min/max observers, QAT through edgekit's trainer",
    requires=("torchao", "executorch"), extra="int8", qat=True, ptq="edgekit.quant.pt2e:ptq",
), aliases=("torchao",))
QUANT_BACKENDS.add("nncf", QuantBackend(
    name="nncf", description="NNCF post-training quantization of the PT2E graph, with fast bias correction; "
                             "--max-drop through NNCF's accuracy-controlled PTQ",
    requires=("nncf", "torchao", "executorch", "onnxruntime"), extra="int8", qat=False,
    ptq="edgekit.quant.nncf_ptq:ptq", accuracy_control="edgekit.quant.nncf_accuracy:nncf_float_layers",
))

#: families whose PTQ loses measurably more without bias correction (depthwise convs, SE gates, hard-swish/SiLU):
#: on the Fashion-MNIST benchmark MobileNetV3-Large lost 0.72/0.45/0.44 top-1 points (onnxruntime/LiteRT/ExecuTorch)
#: with plain min/max PTQ and 0.38/0.23/0.31 with NNCF's fast bias correction (benchmarks/results/int8_accuracy.md)
BIAS_CORRECTED_FAMILIES = frozenset({"efficientnet", "efficientnetv2", "mobilenetv3"})
AUTO = "auto"


def named_backend(requested: str) -> QuantBackend:
    """The backend `requested` names; `auto` names pt2e until the run's mode and family are known."""
    return QUANT_BACKENDS.get("pt2e" if requested == AUTO else requested)


def choose_backend(requested: str, mode: str, family: str | None,
                   max_drop: float | None = None) -> tuple[QuantBackend, str]:
    """The backend a run uses and why: `auto` is pt2e, except PTQ of a bias-correction family, which gets nncf.

    With --max-drop, auto stays on pt2e, whose accuracy control measures every attempt on the deployed file.
    """
    if requested != AUTO:
        return named_backend(requested), "requested"
    nncf = QUANT_BACKENDS.get("nncf")
    if mode == "ptq" and family in BIAS_CORRECTED_FAMILIES and max_drop is None:
        if all(importlib.util.find_spec(module) is not None for module in nncf.requires):
            return nncf, f"auto: {family} PTQ gets NNCF's bias correction"
        return QUANT_BACKENDS.get("pt2e"), f"auto: {family} PTQ would get NNCF's bias correction, but nncf is " \
                                           f"not installed (pip install 'edgekit[{nncf.extra}]')"
    return QUANT_BACKENDS.get("pt2e"), "auto: pt2e"
