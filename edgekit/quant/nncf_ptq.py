"""The nncf backend: NNCF's post-training quantization (with fast bias correction) of the PT2E graph."""

from __future__ import annotations

import copy

import torch

from edgekit.core.ui import quiet_export
from edgekit.quant.pt2e import finish


def ptq(graph: torch.fx.GraphModule, quantizer, batches: list[torch.Tensor]) -> torch.fx.GraphModule:
    """NNCF statistics and bias correction over `batches`, with the same quantizer (scheme) as pt2e."""
    import nncf
    from nncf.experimental.torch.fx import quantize_pt2e

    with quiet_export(), torch.no_grad():
        converted = quantize_pt2e(copy.deepcopy(graph), quantizer, nncf.Dataset(batches), subset_size=len(batches),
                                  fast_bias_correction=True, batchwise_statistics=True, fold_quantize=True)
    return finish(converted)
