"""Efficient attention as a drop-in for softmax attention: Linformer and Performer (FAVOR+), swapped into ViT/DeiT
and T2T-ViT models (edgekit.models.attention.swap)."""

from edgekit.models.attention.base import EfficientAttention
from edgekit.models.attention.linformer import LinformerAttention
from edgekit.models.attention.performer import PerformerAttention
from edgekit.models.attention.swap import (
    ATTENTION_KINDS,
    DEFAULT_FEATURES,
    DEFAULT_PROJECTED,
    replay_attention,
    swap_attention,
)

__all__ = ["ATTENTION_KINDS", "DEFAULT_FEATURES", "DEFAULT_PROJECTED", "EfficientAttention", "LinformerAttention",
           "PerformerAttention", "replay_attention", "swap_attention"]
