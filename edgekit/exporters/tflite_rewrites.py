"""Export-time substitutions for litert-torch: numerically identical forwards that avoid op patterns it lowers wrongly.

litert-torch (0.10) moves convolution neighbourhoods to NHWC with its layout-transpose pass. `aten.expand` is one
of the ops that pass keeps in NCHW, and when an expand feeds an elementwise op whose result goes into a
convolution, the elementwise op is moved to NHWC while the expanded operand keeps its NCHW shape: the flatbuffer
conversion then stops with "'tfl.mul' op operands don't have broadcast-compatible shapes". timm's MobileViTv2
attention (`LinearSelfAttention`) is exactly that pattern: ``relu(value) * context.expand_as(value)`` followed by
the ``out_proj`` 1×1 convolution. Multiplying by the un-expanded ``[B, d, P, 1]`` context broadcasts to the same
values (the expand is a view, the product is computed element by element either way), so the substitute drops the
expand and nothing else.

`tflite_compatible(model)` swaps the class of each matching module for the duration of the conversion and
restores it afterwards; weights, buffers and attributes are untouched. The exported file is still verified
against the original PyTorch model. INT8 capture (`quant.pt2e.capture`) goes through the same substitutes, since
a captured graph can no longer be rewritten by module; every format then ships that one integer model.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import torch
import torch.nn.functional as F


def _linear_self_attention_forward(self, x: torch.Tensor, x_prev: torch.Tensor | None = None) -> torch.Tensor:
    """timm LinearSelfAttention (self-attention path) with a broadcasting multiply instead of `expand_as`."""
    if x_prev is not None:  # cross-attention is not used by the zoo's models: keep timm's own code
        return super(type(self), self).forward(x, x_prev)
    query, key, value = self.qkv_proj(x).split([1, self.embed_dim, self.embed_dim], dim=1)
    context_scores = self.attn_drop(F.softmax(query, dim=-1))
    context_vector = (key * context_scores).sum(dim=-1, keepdim=True)  # [B, d, P, 1]
    out = F.relu(value) * context_vector  # broadcasts over N exactly like expand_as(value)
    return self.out_drop(self.out_proj(out))


# "module.QualName" of the original class -> the forward used while converting
REWRITES: dict[str, Callable] = {
    "timm.models.mobilevit.LinearSelfAttention": _linear_self_attention_forward,
}


@functools.lru_cache(maxsize=None)
def _substitute(cls: type) -> type:
    """A subclass of `cls` whose forward is the registered rewrite (one per original class)."""
    forward = REWRITES[f"{cls.__module__}.{cls.__qualname__}"]
    return type(f"TFLite{cls.__name__}", (cls,), {"forward": forward, "__module__": __name__})


@contextlib.contextmanager
def tflite_compatible(model: torch.nn.Module) -> Iterator[list[str]]:
    """Within the block, modules with a registered rewrite use it; yields the names of the modules swapped."""
    swapped: list[tuple[torch.nn.Module, type]] = []
    names: list[str] = []
    try:
        for name, module in model.named_modules():
            cls = type(module)
            if f"{cls.__module__}.{cls.__qualname__}" in REWRITES:
                module.__class__ = _substitute(cls)
                swapped.append((module, cls))
                names.append(name)
        yield names
    finally:
        for module, cls in swapped:
            module.__class__ = cls
