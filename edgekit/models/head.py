"""The classifier of a model: timm's `get_classifier()`, else (a plugin's plain module) its last nn.Linear."""

from __future__ import annotations

import torch


def classifier_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The module(s) producing the logits: kept at full width by pruning, re-initialised for another class count.

    A model without `get_classifier()` (timm's) is taken to end in its last registered nn.Linear; a plugin whose
    head is something else defines `get_classifier()`.
    """
    get = getattr(model, "get_classifier", None)
    if callable(get):
        heads = get()
        return [m for m in (heads if isinstance(heads, (tuple, list)) else (heads,)) if isinstance(m, torch.nn.Module)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return linears[-1:]
