"""A torch-pruning pruner for per-input gates (SkipNet's): a module that reads its input's channels through one
linear layer and returns one value per input, which scales (is broadcast over) a channel stream.

torch-pruning would couple the gate's single output with every channel of the stream it scales and skip the whole
group (the index is beyond the gate's size). Registered as a customized layer, the gate is one node: pruning its
input channels narrows the reading layer's input, and pruning "its output" (the broadcast) changes nothing.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch_pruning as tp


class BroadcastGatePruner(tp.pruner.BasePruningFunc):
    """Prunes `layer.<reader>`'s input features (an nn.Linear); the gate's output is never pruned."""

    def __init__(self, reader: str = "proj"):
        super().__init__()
        self.reader = reader

    def prune_out_channels(self, layer: torch.nn.Module, idxs: Sequence[int]) -> torch.nn.Module:
        return layer  # one value per input, broadcast over the channels: nothing to remove

    def prune_in_channels(self, layer: torch.nn.Module, idxs: Sequence[int]) -> torch.nn.Module:
        reader = layer.get_submodule(self.reader)
        tp.prune_linear_in_channels(reader, idxs)
        return layer

    def get_out_channels(self, layer: torch.nn.Module) -> None:
        return None

    def get_in_channels(self, layer: torch.nn.Module) -> int:
        return layer.get_submodule(self.reader).in_features
