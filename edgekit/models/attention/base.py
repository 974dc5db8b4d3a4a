"""The part every efficient attention shares with timm's `Attention`: q/k/v and output projections, head layout."""

from __future__ import annotations

import torch
from timm.layers import Attention
from torch import nn


class EfficientAttention(nn.Module):
    """timm `Attention` with the softmax over all token pairs replaced by `attend(q, k, v)` (subclasses).

    Built from a timm `Attention`, whose sub-layers it takes over as they are (`qkv`, `q_norm`, `k_norm`, `norm`,
    `proj`, dropouts): the weights, the state-dict names, `num_heads` and `head_dim` stay, so a softmax checkpoint's
    tensors load into it and the head layout is the one pruning left.
    """

    def __init__(self, source: Attention):
        super().__init__()
        self.num_heads, self.head_dim, self.attn_dim = source.num_heads, source.head_dim, source.attn_dim
        self.scale = source.scale
        self.qkv, self.q_norm, self.k_norm = source.qkv, source.q_norm, source.k_norm
        self.attn_drop, self.norm, self.proj, self.proj_drop = source.attn_drop, source.norm, source.proj, \
            source.proj_drop

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, H, N, D) q, k, v -> (B, H, N, D)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError(f"{type(self).__name__} has no attention mask (ViT classifiers pass none)")
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = self.attend(self.q_norm(q), self.k_norm(k), v)
        x = x.transpose(1, 2).reshape(batch, tokens, self.attn_dim)
        return self.proj_drop(self.proj(self.norm(x)))
