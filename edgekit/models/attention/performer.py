"""Performer attention, FAVOR+ (Choromanski et al., 2021, "Rethinking Attention with Performers", arXiv:2009.14794).

softmax(q k^T / sqrt(d)) is approximated by phi(q) phi(k)^T with positive random features
phi(x) = exp(w_i . x - |x|^2 / 2) / sqrt(m), the m vectors w_i orthogonal in blocks of d (the paper's orthogonal
random features): O(N m d) instead of O(N^2 d). The features are drawn once from a seed and kept as a buffer (in
the state dict), fixed in training and inference alike, so every exported file computes the same function.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edgekit.models.attention.base import EfficientAttention

EPS = 1e-6


def orthogonal_features(features: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """(features, dim) Gaussian random features, orthogonal within each block of `dim` rows, each row rescaled to
    the length of a Gaussian vector (so every row is marginally N(0, I))."""
    blocks = []
    for _ in range(math.ceil(features / dim)):
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        blocks.append(q.T)
    rows = torch.cat(blocks)[:features]
    lengths = torch.randn(features, dim, generator=generator).norm(dim=1, keepdim=True)
    return rows * lengths


def positive_features(x: torch.Tensor, projection: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """phi(x) = exp(x w^T - |x|^2 / 2) / sqrt(m), computed after subtracting the max over `dims` of the exponent:
    over each query's features, or over all keys and features of a head, a constant that cancels in the
    normalisation and keeps exp() in range."""
    exponent = x @ projection.T - x.square().sum(-1, keepdim=True) / 2
    exponent = exponent - exponent.amax(dims, keepdim=True).detach()
    return (torch.exp(exponent) + EPS) / math.sqrt(projection.shape[0])


class PerformerAttention(EfficientAttention):
    """phi(q) (phi(k)^T v) / (phi(q) phi(k)^T 1) with FAVOR+ features; q and k scaled by scale^(1/2) each."""

    def __init__(self, source: nn.Module, features: int, seed: int = 0):
        super().__init__(source)
        self.features, self.seed = features, seed
        projection = orthogonal_features(features, self.head_dim, torch.Generator().manual_seed(seed))
        self.register_buffer("projection", projection.to(dtype=source.qkv.weight.dtype,
                                                         device=source.qkv.weight.device))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        root = self.scale ** 0.5
        phi_q = positive_features(q * root, self.projection, (-1,))
        phi_k = positive_features(k * root, self.projection, (-2, -1))
        context = phi_k.transpose(-2, -1) @ v  # (B, H, m, D)
        normaliser = phi_q @ phi_k.sum(-2, keepdim=True).transpose(-2, -1)  # (B, H, N, 1)
        return (phi_q @ context) / normaliser
