"""Swap every softmax attention of a ViT/DeiT or T2T-ViT model for Linformer or Performer attention, and replay
that swap on a rebuilt model (a checkpoint's `attention` edit).

Applies to timm `VisionTransformer` models (ViT, DeiT and their timm relatives) and edgekit's T2T-ViT, whose
transformer blocks use timm's `Attention`: those layers are replaced, keeping q/k/v/proj weights, `num_heads` and
`head_dim`. In T2T-ViT the tokens-to-token layers' single-head attention over the soft splits (3136 tokens at
224 px, 4x the backbone's per side) is replaced too, as the paper's T2T-ViT-7/12 use Performer layers there.
"""

from __future__ import annotations

import torch
from timm.layers import Attention
from timm.models.vision_transformer import VisionTransformer

from edgekit.core.errors import EdgekitError
from edgekit.core.options import ATTENTION_KINDS, LINFORMER_K, PERFORMER_FEATURES
from edgekit.models.attention.base import EfficientAttention
from edgekit.models.attention.linformer import LinformerAttention
from edgekit.models.attention.performer import PerformerAttention

DEFAULT_PROJECTED, DEFAULT_FEATURES = LINFORMER_K, PERFORMER_FEATURES
SUPPORTED = "ViT/DeiT (timm VisionTransformer) and T2T-ViT models"


def _families() -> tuple[type, ...]:
    from edgekit.models.families.t2t_vit import T2TViT

    return (VisionTransformer, T2TViT)


def _softmax_types() -> tuple[type, ...]:
    from edgekit.models.families.t2t_vit import TokenAttention

    return (Attention, TokenAttention)


def softmax_layers(model: torch.nn.Module, name: str = "the model") -> dict[str, torch.nn.Module]:
    """The softmax attention layers a swap replaces (timm `Attention`, T2T-ViT's `TokenAttention`); refuses models
    of other families and gated attention."""
    if not isinstance(model, _families()):
        raise EdgekitError(f"--attention linformer|performer applies to {SUPPORTED}; {name} is a "
                           f"{type(model).__name__}")
    if any(isinstance(m, EfficientAttention) for m in model.modules()):
        raise EdgekitError(f"{name} already has efficient attention: swap a softmax model")
    layers = {n: m for n, m in model.named_modules() if type(m) in _softmax_types()}
    if not layers:
        raise EdgekitError(f"{name} has no timm Attention layer to swap (its blocks use another attention)")
    gated = [n for n, m in layers.items() if getattr(m, "gate", None) is not None]
    if gated:
        raise EdgekitError(f"{name}: gated attention ({gated[0]}) has no Linformer/Performer version in edgekit")
    return layers


def token_counts(model: torch.nn.Module, layers: dict[str, torch.nn.Module], img_size: int) -> dict[str, int]:
    """Tokens each layer sees at `img_size` (one forward pass of a zero image)."""
    counts: dict[str, int] = {}
    hooks = [layer.register_forward_pre_hook(lambda m, args, n=n: counts.__setitem__(n, args[0].shape[1]))
             for n, layer in layers.items()]
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, img_size, img_size, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return counts


def _build(kind: str, layer: torch.nn.Module, settings: dict) -> EfficientAttention:
    if kind == "linformer":
        return LinformerAttention(layer, settings["tokens"], settings["projected"])
    if kind == "performer":
        return PerformerAttention(layer, settings["features"], settings["seed"])
    raise EdgekitError(f"unknown attention '{kind}'; choose from {', '.join(ATTENTION_KINDS)}")


def _replace(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def swap_attention(model: torch.nn.Module, kind: str, img_size: int, *, projected: int | None = None,
                   features: int | None = None, seed: int = 0, name: str = "the model") -> dict:
    """Replace the softmax attention layers of `model` in place; returns the edit that `replay_attention` repeats.

    linformer: `projected` rows of keys/values (default min(64, tokens)); performer: `features` random features
    (default 128), drawn from `seed` (+ the layer's index)."""
    if kind not in ATTENTION_KINDS[1:]:
        raise EdgekitError(f"--attention {kind}: choose from {', '.join(ATTENTION_KINDS[1:])} to swap")
    if features is not None and features < 1:
        raise EdgekitError(f"--performer-features must be at least 1, got {features}")
    layers = softmax_layers(model, name)
    settings: dict[str, dict] = {}
    if kind == "linformer":
        counts = token_counts(model, layers, img_size)
        for layer_name, tokens in counts.items():
            k = min(DEFAULT_PROJECTED, tokens) if projected is None else projected
            if not 1 <= k <= tokens:
                raise EdgekitError(f"--linformer-k {k}: {name} has {tokens} tokens at {img_size} px, so k must be "
                                   f"in [1, {tokens}]")
            settings[layer_name] = {"tokens": tokens, "projected": k}
    else:
        m = DEFAULT_FEATURES if features is None else features
        settings = {layer_name: {"features": m, "seed": seed + i} for i, layer_name in enumerate(layers)}
    edit = {"kind": "attention", "attention": kind, "img_size": img_size, "layers": settings}
    replay_attention(model, edit, layers)
    return edit


def replay_attention(model: torch.nn.Module, edit: dict, layers: dict[str, torch.nn.Module] | None = None) -> None:
    """Apply a recorded swap to a freshly built (and already pruned) model; its weights are loaded afterwards."""
    layers = softmax_layers(model) if layers is None else layers
    missing = [n for n in edit["layers"] if n not in layers]
    if missing:
        raise EdgekitError(f"recorded attention swap names layer '{missing[0]}', which this model does not have")
    for layer_name, settings in edit["layers"].items():
        _replace(model, layer_name, _build(edit["attention"], layers[layer_name], settings))


def describe(edit: dict) -> dict:
    """The report's summary of a swap: the attention, how many layers, its size setting(s)."""
    layers = list(edit["layers"].values())
    summary = {"attention": edit["attention"], "layers": len(layers), "teacher": "softmax"}
    if edit["attention"] == "linformer":
        summary.update(projected=sorted({s["projected"] for s in layers}),
                       tokens=sorted({s["tokens"] for s in layers}, reverse=True))
    else:
        summary.update(features=layers[0]["features"])
    return summary
