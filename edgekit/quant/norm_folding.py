"""Fold BatchNorms into the custom layers before them, as PT2E folds them into convolutions.

XNNPACK's scheme folds a BatchNorm into the nn.Conv2d before it, so the int8 tensor is the normalised output. A
layer PT2E does not know (a DynamicConv2d: per-image kernels computed by matmuls) keeps its BatchNorm, and its
raw output is quantized per tensor before the BatchNorm rescales each channel: a channel whose gain |γ|/σ is large
(over 100 in trained DY-MobileNetV3s) multiplies that rounding step as much, and its information is lost. A layer
that can absorb the BatchNorm exactly says so with a `fold_batch_norm(bn)` method; `fold_batch_norms` finds each
BatchNorm that consumes such a layer's output directly (one forward with hooks), folds it in, and keeps only what
the norm did after normalising (timm's BatchNormAct2d: its activation).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def with_folded_norms(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """`model` itself when nothing can be folded, else a copy with its BatchNorms folded (`fold_batch_norms`)."""
    if not any(callable(getattr(m, "fold_batch_norm", None)) for m in model.modules()):
        return model
    folded = copy.deepcopy(model)
    fold_batch_norms(folded, example)
    return folded


def foldable_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(layer, batch norm) names where a BatchNorm2d's input is exactly a `fold_batch_norm`-capable layer's output,
    found by running `example` through `model` in eval mode."""
    layers = {name: m for name, m in model.named_modules() if callable(getattr(m, "fold_batch_norm", None))}
    if not layers:
        return []
    outputs: dict[int, tuple[str, torch.Tensor]] = {}
    pairs: list[tuple[str, str]] = []

    def keep_output(name):
        def hook(_module, _args, output):
            outputs[id(output)] = (name, output)  # the tensor is kept alive, so its id is not reused
        return hook

    def match_input(name):
        def hook(_module, args):
            producer = outputs.get(id(args[0]))
            if producer is not None and producer[1] is args[0]:
                pairs.append((producer[0], name))
        return hook

    handles = [m.register_forward_hook(keep_output(n)) for n, m in layers.items()]
    handles += [m.register_forward_pre_hook(match_input(n)) for n, m in model.named_modules()
                if isinstance(m, nn.BatchNorm2d)]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)
    return list(dict.fromkeys(pairs))


def fold_batch_norms(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Fold every BatchNorm2d that directly follows a `fold_batch_norm`-capable layer into it, in place; returns the
    folded norms' names. A plain BatchNorm2d becomes nn.Identity, timm's BatchNormAct2d its dropout and activation;
    other BatchNorm2d subclasses (whose forward may do more) are left alone."""
    folded = []
    for layer_name, norm_name in foldable_pairs(model, example):
        norm = model.get_submodule(norm_name)
        rest = after_normalisation(norm)
        if rest is None:
            continue
        model.get_submodule(layer_name).fold_batch_norm(norm)
        parent, _, child = norm_name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, rest)
        folded.append(norm_name)
    return folded


def after_normalisation(norm: nn.BatchNorm2d) -> nn.Module | None:
    """What `norm` computes after normalising (nn.Identity for a plain BatchNorm2d), or None when unknown."""
    from timm.layers import BatchNormAct2d

    if type(norm) is nn.BatchNorm2d:
        return nn.Identity()
    if type(norm) is BatchNormAct2d:
        return nn.Sequential(norm.drop, norm.act)
    return None
