"""Quantization backends: the engines that turn a captured graph into the int8 model (one registry)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from edgekit.errors import require_modules
from edgekit.registry import Registry


@dataclass(frozen=True)
class QuantBackend:
    """A quantization engine: what it needs installed, whether it trains (QAT), and its PTQ entry point."""

    name: str
    description: str
    requires: tuple[str, ...]
    extra: str
    qat: bool
    ptq: str  # "module:function" (graph, quantizer, batches) -> converted graph

    def check_installed(self) -> None:
        require_modules(self.requires, self.extra)

    def quantize(self, graph: torch.fx.GraphModule, quantizer, batches: list[torch.Tensor]) -> torch.fx.GraphModule:
        """Post-training quantization of `graph` calibrated on `batches`."""
        module_name, func_name = self.ptq.split(":")
        return getattr(importlib.import_module(module_name), func_name)(graph, quantizer, batches)


QUANT_BACKENDS: Registry[QuantBackend] = Registry("quantization backend")

QUANT_BACKENDS.add("pt2e", QuantBackend(
    name="pt2e", description="PyTorch PT2E (torchao): min/max observers, QAT through edgekit's trainer",
    requires=("torchao", "executorch"), extra="int8", qat=True, ptq="edgekit.quant.pt2e:ptq",
), aliases=("torchao",))
QUANT_BACKENDS.add("nncf", QuantBackend(
    name="nncf", description="NNCF post-training quantization of the PT2E graph, with fast bias correction",
    requires=("nncf", "torchao", "executorch"), extra="int8", qat=False, ptq="edgekit.quant.nncf_ptq:ptq",
))
