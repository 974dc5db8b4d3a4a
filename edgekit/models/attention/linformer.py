"""Linformer attention (Wang et al., 2020, "Linformer: Self-Attention with Linear Complexity", arXiv:2006.04768).

Keys and values are projected along the token axis to `projected` rows by learned matrices E and F (shared by the
heads of a layer, the paper's headwise sharing) before the softmax: O(N k) instead of O(N^2). E and F are sized by
the token count, so a Linformer model runs at the input size it was built for, and nothing else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.attention.base import EfficientAttention


def pooling_matrix(projected: int, tokens: int) -> torch.Tensor:
    """(projected, tokens): row i averages a contiguous run of tokens; the identity when projected == tokens.

    The starting E and F: each projected key/value is the mean of neighbouring tokens' keys/values, a start the
    student's distillation refines (the paper leaves the initialisation open)."""
    bounds = torch.linspace(0, tokens, projected + 1).round().long()
    matrix = torch.zeros(projected, tokens)
    for row, (begin, end) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
        matrix[row, begin:max(end, begin + 1)] = 1.0 / max(end - begin, 1)
    return matrix


class LinformerAttention(EfficientAttention):
    """softmax(q (E k)^T * scale) (F v), E and F learned (projected x tokens)."""

    def __init__(self, source: nn.Module, tokens: int, projected: int):
        super().__init__(source)
        if not 1 <= projected <= tokens:
            raise ValueError(f"Linformer's projected length must be in [1, {tokens}] (the tokens), got {projected}")
        self.tokens, self.projected = tokens, projected
        weight = source.qkv.weight
        start = pooling_matrix(projected, tokens).to(device=weight.device, dtype=weight.dtype)
        self.key_proj = nn.Parameter(start.clone())  # E
        self.value_proj = nn.Parameter(start.clone())  # F

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if k.shape[-2] != self.tokens:
            raise ValueError(f"this Linformer layer was built for {self.tokens} tokens and got {k.shape[-2]}: build "
                             "the model at the input size it runs at")
        k, v = self.key_proj @ k, self.value_proj @ v  # (B, H, projected, D)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0,
                                              scale=self.scale)
