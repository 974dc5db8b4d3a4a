"""Per-family pruning handlers (mostly attention), keyed by the module's class.

Two modes keep attention correct under channel pruning:

- ``head_dim``: torch-pruning removes the same head dimensions from every head of q, k and v (``num_heads`` tells
  it the grouping); afterwards `fix` re-derives the module's attributes (head_dim, scale …) from the new shapes.
- ``keep``: the attention's inner width (its q/k/v projections) is left as it is; the residual stream around it,
  the MLPs and the convolutions are still pruned. Used where per-head tensors (biases indexed by head and key
  dimension, temperature, relative embeddings sized by head_dim) make head pruning unsafe.

- ``lead``: not attention, but a block whose channel mapping torch-pruning gets right only from one side. GhostNet's
  ghost module concatenates its primary convolution's output with a depthwise copy of it, so primary channel i is
  module channels i and init+i. torch-pruning picks the first convolution it meets walking back from the output
  as a group's root; for a ghost module that is the depthwise conv after the concatenation, and choosing channels
  in that doubled space prunes the primary twice (widths off --round-to). The ``lead`` sub-layers (the primary
  convolution) are made the roots of their groups instead: pruning k primary channels removes the 2k matching
  module channels, and --round-to holds for the primary width (the module output is twice it).

- ``custom``: not attention either: a layer torch-pruning's graph mis-models, pruned as one node by a torch-pruning
  pruner (``pruner`` builds it; e.g. a per-input gate whose one output is broadcast over a channel stream).

A class registered with ``refuse`` stops pruning with a one-line message naming the family; ``check`` may refuse a
single instance (a configuration the handler does not cover).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from edgekit.core.registry import Registry


@dataclass(frozen=True)
class AttentionHandler:
    family: str
    mode: str  # head_dim | keep | lead | custom | refuse
    qkv: tuple[str, ...] = ("qkv",)  # sub-layer names/globs producing q/k/v (kept in `keep` mode)
    per_head: tuple[str, ...] = ()  # own parameters indexed by head (never pruned)
    fix: Callable[[torch.nn.Module], None] | None = None
    lead: tuple[str, ...] = ()  # `lead` mode: sub-layers (dotted names) whose output channels root their groups
    check: Callable[[torch.nn.Module], str | None] | None = None  # why this instance cannot be pruned, or None
    reason: str = ""
    pruner: Callable[[], object] | None = None  # `custom` mode: builds the layer's torch-pruning pruner
    notes: dict = field(default_factory=dict)


HANDLERS: Registry[AttentionHandler] = Registry("attention handler")


def class_key(module: torch.nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def handler_for(module: torch.nn.Module) -> AttentionHandler | None:
    key = class_key(module)
    return HANDLERS.get(key) if key in HANDLERS else None


def _fix_timm_attention(module: torch.nn.Module) -> None:
    """timm.layers.Attention (ViT, DeiT, MobileViT): head_dim/attn_dim/scale follow the pruned qkv."""
    module.head_dim = module.qkv.out_features // (3 * module.num_heads)
    module.attn_dim = module.head_dim * module.num_heads
    module.scale = module.head_dim ** -0.5


def _fix_window_attention(module: torch.nn.Module) -> None:
    """Swin WindowAttention: head dims are inferred in forward; only the scale is stored."""
    module.scale = (module.qkv.out_features // (3 * module.num_heads)) ** -0.5


HANDLERS.add("timm.layers.attention.Attention", AttentionHandler("vit/deit/mobilevit", "head_dim", fix=_fix_timm_attention))
HANDLERS.add("timm.models.swin_transformer.WindowAttention", AttentionHandler(
    "swin", "head_dim", per_head=("relative_position_bias_table",), fix=_fix_window_attention))
# Swin's patch merging reorders 2x2 neighbours into 4C channels, which torch-pruning 1.6.1 maps wrongly:
# the residual streams keep their width (inner attention head dims and MLPs are still pruned).
HANDLERS.add("timm.models.swin_transformer.SwinTransformer", AttentionHandler(
    "swin", "keep", qkv=("patch_embed.proj", "layers.*.downsample.reduction")))
# LeViT's attention-downsample subsamples tokens by reshaping and slicing, which hides the q input from the
# dependency graph: the streams entering a downsample keep their width (the last stage's stream is pruned).
for _levit in ("Levit", "LevitDistilled"):
    HANDLERS.add(f"timm.models.levit.{_levit}", AttentionHandler(
        "levit", "keep", qkv=("stem.conv4", "stages.1.downsample.attn_downsample.proj")))
HANDLERS.add("timm.models.mobilevit.LinearSelfAttention", AttentionHandler("mobilevitv2", "keep", qkv=("qkv_proj",)))
HANDLERS.add("timm.models.efficientformer.Attention", AttentionHandler(
    "efficientformer", "keep", per_head=("attention_biases",)))
HANDLERS.add("timm.models.levit.Attention", AttentionHandler("levit", "keep", per_head=("attention_biases",)))
HANDLERS.add("timm.models.levit.AttentionDownsample", AttentionHandler(
    "levit", "keep", qkv=("kv", "q"), per_head=("attention_biases",)))
HANDLERS.add("timm.models.tiny_vit.Attention", AttentionHandler("tinyvit", "keep", per_head=("attention_biases",)))
HANDLERS.add("timm.models.maxxvit.Attention2d", AttentionHandler("coatnet", "keep"))
HANDLERS.add("timm.layers.bottleneck_attn.BottleneckAttn", AttentionHandler("botnet", "keep"))
HANDLERS.add("timm.models.edgenext.CrossCovarianceAttn", AttentionHandler("edgenext", "keep", per_head=("temperature",)))
# T2T-ViT's tokens-to-token module (edgekit.models.families.t2t_vit): the token layers' residual is v itself and
# the soft splits are fixed one-hot convolutions, so the token width stays (q/k/v, their output projections, the
# MLP outputs and the splits); the token MLPs' hidden width is pruned, and the backbone is pruned like DeiT's.
HANDLERS.add("edgekit.models.families.t2t_vit.TokensToToken", AttentionHandler(
    "t2t-vit", "keep", qkv=("split*", "token*.attn.qkv", "token*.attn.proj", "token*.mlp.fc2")))


def _check_ghost_module(module: torch.nn.Module) -> str | None:
    """The ghost mapping `lead` relies on: one depthwise ghost per primary channel, no channel sliced away."""
    primary, cheap = module.primary_conv[0], module.cheap_operation[0]
    if not (cheap.groups == cheap.in_channels == cheap.out_channels == primary.out_channels):
        return "its cheap operation makes more than one ghost per channel (ratio > 2)"
    if module.out_chs != 2 * primary.out_channels:
        return "its output slice drops ghost channels (odd width)"
    return None


def _fix_ghost_module(module: torch.nn.Module) -> None:
    """GhostModule slices its concatenation to `out_chs`: the slice follows the pruned width."""
    module.out_chs = module.primary_conv[0].out_channels + module.cheap_operation[0].out_channels


HANDLERS.add("timm.models.ghostnet.GhostModule", AttentionHandler(
    "ghostnet", "lead", lead=("primary_conv.0",), fix=_fix_ghost_module, check=_check_ghost_module))
for _ghost in ("GhostModuleV2", "GhostModuleV3"):
    HANDLERS.add(f"timm.models.ghostnet.{_ghost}", AttentionHandler(
        "ghostnet", "refuse", reason=f"its {_ghost} (GhostNetV2/V3) concatenates a depthwise copy of its own output, "
        "which torch-pruning 1.6.1 prunes twice, and edgekit's ghost handling covers only GhostNet V1's GhostModule"))


def _gate_pruner() -> object:
    from edgekit.pruning.gates import BroadcastGatePruner

    return BroadcastGatePruner("proj")


# SkipNet's gates (edgekit.models.families.skipnet): each reads the block input through `proj`, which follows the
# pruned stream; its one output per input is broadcast over the stream and is never pruned (nor is its width of 10).
HANDLERS.add("edgekit.models.families.skipnet.Gate", AttentionHandler("skipnet", "custom", pruner=_gate_pruner))

# timm's CondConv2d (the CondConv EfficientNets) keeps its experts as one flattened (experts, out * in * k * k) weight
# and convolves a batch as one grouped convolution: torch-pruning 1.6.1 traces its reshapes into index mappings that
# never finish building the groups (over 150 s on efficientnet_cc_b0_4e at 64 px)
HANDLERS.add("timm.layers.cond_conv2d.CondConv2d", AttentionHandler(
    "condconv", "refuse", reason="torch-pruning 1.6.1 does not model timm's CondConv2d (its experts are one flattened "
    "weight, the batch is folded into the convolution's groups) and does not finish building its pruning groups"))


def refusal(model: torch.nn.Module) -> str | None:
    """Why --prune refuses `model` (its first layer of a `refuse` family), known before any work; else None."""
    for module in model.modules():
        handler = handler_for(module)
        if handler is not None and handler.mode == "refuse":
            return (f"--prune: {handler.family} ({type(module).__name__}) cannot be pruned safely yet: "
                    f"{handler.reason}; run without --prune")
    return None


def _dynamic_conv_pruner(depthwise: bool) -> Callable[[], object]:
    def build() -> object:
        from edgekit.pruning.layer_pruners import dynamic_conv_pruner

        return dynamic_conv_pruner(depthwise)

    return build


def _check_dynamic_conv(layer: torch.nn.Module) -> str | None:
    if layer.groups != 1:
        return f"a grouped DynamicConv2d ({layer.groups} groups) is not covered, only dense and depthwise ones"
    return None


# DynamicConv (edgekit.models.families.dynamic_conv): K kernels, K biases and the kernel attention's input follow the
# pruned channels (edgekit.pruning.layer_pruners); a depthwise layer is its own class, its in and out channels tied
_DYNAMIC = "edgekit.models.families.dynamic_conv"
HANDLERS.add(f"{_DYNAMIC}.DynamicConv2d", AttentionHandler(
    "dynamicconv", "custom", pruner=_dynamic_conv_pruner(False), check=_check_dynamic_conv))
HANDLERS.add(f"{_DYNAMIC}.DepthwiseDynamicConv2d", AttentionHandler(
    "dynamicconv", "custom", pruner=_dynamic_conv_pruner(True)))

# Efficient attention (edgekit.models.attention): Linformer's token projections are sized by the token count and
# Performer's random features by head_dim, which torch-pruning does not follow; compress prunes the softmax model
# first and swaps its attention afterwards.
for _efficient in ("linformer.LinformerAttention", "performer.PerformerAttention"):
    HANDLERS.add(f"edgekit.models.attention.{_efficient}", AttentionHandler(
        "efficient attention", "refuse", reason="its attention was swapped for Linformer/Performer; prune the "
        "softmax model, then swap (compress --prune R --attention K does it in that order)"))
