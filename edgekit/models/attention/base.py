"""The part every efficient attention shares with the softmax layer it replaces: q/k/v and output projections, head
layout, and (T2T-ViT's token layers) the value residual."""

from __future__ import annotations

import torch
from torch import nn


class EfficientAttention(nn.Module):
    """A softmax attention layer with the softmax over all token pairs replaced by `attend(q, k, v)` (subclasses).

    Built from timm's `Attention` or T2T-ViT's `TokenAttention`, whose sub-layers it takes over as they are (`qkv`,
    `proj`, and timm's `q_norm`, `k_norm`, `norm`, dropouts): the weights, the state-dict names, `num_heads` and
    `head_dim` stay, so a softmax checkpoint's tensors load into it and the head layout is the one pruning left.
    A `TokenAttention` (one head, wider input than output) keeps its residual: v + proj(attention).
    """

    def __init__(self, source: nn.Module):
        super().__init__()
        self.qkv, self.proj = source.qkv, source.proj
        self.num_heads = getattr(source, "num_heads", 1)
        self.head_dim = getattr(source, "head_dim", source.qkv.out_features // (3 * self.num_heads))
        self.attn_dim = self.num_heads * self.head_dim
        self.scale = getattr(source, "scale", self.head_dim ** -0.5)
        self.value_residual = not hasattr(source, "num_heads")  # T2T-ViT's TokenAttention
        for name in ("q_norm", "k_norm", "norm"):
            setattr(self, name, getattr(source, name, None) or nn.Identity())
        for name in ("attn_drop", "proj_drop"):
            setattr(self, name, getattr(source, name, None) or nn.Dropout(0.0))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, H, N, D) q, k, v -> (B, H, N, D)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError(f"{type(self).__name__} has no attention mask (ViT classifiers pass none)")
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = self.attend(self.q_norm(q), self.k_norm(k), v)
        if self.value_residual:
            return (v + self.proj(out)).squeeze(1)
        out = out.transpose(1, 2).reshape(batch, tokens, self.attn_dim)
        return self.proj_drop(self.proj(self.norm(out)))
