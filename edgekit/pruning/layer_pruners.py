"""torch-pruning pruners for edgekit's own layers (torch-pruning's `customized_pruners`; the `custom` handlers of
edgekit.pruning.handlers build them), and the tracing switch that shows such a layer as one node.

DynamicConv2d (edgekit.models.families.dynamic_conv): the K kernels and K biases lose the same output channels,
and pruning input channels narrows every kernel and the kernel attention's first FC (it pools the same input);
the number of kernels K and the attention's hidden width stay. A depthwise one ties input and output channels
(torch-pruning's intra-layer dependency: one function prunes both). torch-pruning scores a group by its
built-in layers (the BatchNorm after each dynamic convolution, the next layer's inputs), not by the kernel bank.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn


def _kept(count: int, idxs) -> list[int]:
    dropped = {int(i) for i in idxs}
    return [i for i in range(count) if i not in dropped]


def _narrow(module: nn.Module, name: str, dim: int, keep: list[int]) -> None:
    tensor = getattr(module, name)
    if tensor is not None:
        index = torch.tensor(keep, device=tensor.device)
        setattr(module, name, nn.Parameter(tensor.data.index_select(dim, index).clone(),
                                           requires_grad=tensor.requires_grad))


def _narrow_attention_input(layer: nn.Module, keep: list[int]) -> None:
    fc1 = layer.attention.fc1
    _narrow(fc1, "weight", 1, keep)
    fc1.in_features = len(keep)


@functools.cache
def _dynamic_conv_pruners(tp) -> tuple[type, type]:
    base = tp.pruner.function.BasePruningFunc

    class DynamicConvPruner(base):
        """Output channels: the bank's dim 1 and the biases'; input channels: the bank's columns of those channels
        and the attention's first FC (groups == 1)."""

        def prune_out_channels(self, layer: nn.Module, idxs) -> nn.Module:
            keep = _kept(layer.out_channels, idxs)
            _narrow(layer, "weight", 1, keep)
            _narrow(layer, "bias", 1, keep)
            layer.out_channels = len(keep)
            return layer

        def prune_in_channels(self, layer: nn.Module, idxs) -> nn.Module:
            keep = _kept(layer.in_channels, idxs)
            taps = layer.kernel_size[0] * layer.kernel_size[1]  # the bank is (K, out, in * taps)
            _narrow(layer, "weight", 2, [c * taps + t for c in keep for t in range(taps)])
            _narrow_attention_input(layer, keep)
            layer.in_channels = len(keep)
            return layer

        def get_out_channels(self, layer: nn.Module) -> int:
            return layer.out_channels

        def get_in_channels(self, layer: nn.Module) -> int:
            return layer.in_channels

    class DepthwiseDynamicConvPruner(DynamicConvPruner):
        """One channel set: kernels, biases, the attention's input and the group count shrink together."""

        def prune_out_channels(self, layer: nn.Module, idxs) -> nn.Module:
            keep = _kept(layer.out_channels, idxs)
            _narrow(layer, "weight", 1, keep)
            _narrow(layer, "bias", 1, keep)
            _narrow_attention_input(layer, keep)
            layer.in_channels = layer.out_channels = layer.groups = len(keep)
            return layer

        prune_in_channels = prune_out_channels  # torch-pruning's intra-layer dependency

    return DynamicConvPruner, DepthwiseDynamicConvPruner


def dynamic_conv_pruner(depthwise: bool) -> object:
    """The torch-pruning pruner of a DynamicConv2d (`depthwise`: of a DepthwiseDynamicConv2d)."""
    import torch_pruning as tp

    return _dynamic_conv_pruners(tp)[int(depthwise)]()


@contextlib.contextmanager
def leaf_tracing(model: nn.Module):
    """While torch-pruning traces `model`, layers with a `trace_leaf` switch show as one node from their input (their
    inner matmuls and reshapes would otherwise enter the dependency graph as channel-preserving ops)."""
    layers = [m for m in model.modules() if hasattr(type(m), "trace_leaf")]
    for layer in layers:
        layer.trace_leaf = True
    try:
        yield
    finally:
        for layer in layers:
            del layer.trace_leaf  # back to the class default
