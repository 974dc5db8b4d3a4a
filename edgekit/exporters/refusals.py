"""Layers a format's exporter cannot take, known before any work: one line naming the layer, the format and why."""

from __future__ import annotations

import torch

#: (layer class as module.qualname, format) -> why the format cannot take it
REFUSALS: dict[tuple[str, str], str] = {
    ("timm.layers.cond_conv2d.CondConv2d", "onnx"):
        "timm's CondConv2d convolves a batch as one grouped convolution with groups = batch x groups, which needs "
        "a fixed batch, and edgekit's ONNX files have a dynamic one (tflite and pte, with a fixed batch, take it)",
}

REFUSED_FORMATS = frozenset(fmt for _, fmt in REFUSALS)


def export_refusal(model: torch.nn.Module, fmt: str) -> str | None:
    """Why `fmt` cannot take `model` (its first refused layer), or None."""
    for name, module in model.named_modules():
        cls = type(module)
        reason = REFUSALS.get((f"{cls.__module__}.{cls.__qualname__}", fmt))
        if reason:
            return f"--formats {fmt}: layer '{name}' ({cls.__name__}) cannot be exported: {reason}"
    return None
