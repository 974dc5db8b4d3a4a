"""T2T-ViT: Tokens-to-Token Vision Transformer (Yuan et al., 2021, "Tokens-to-Token ViT: Training Vision Transformers
from Scratch on ImageNet", arXiv:2101.11986), the T2T-ViT-t variant (transformer layers in the T2T module).

The tokens-to-token module replaces ViT's one-shot patch embedding by progressive tokenisation: a *soft split*
(overlapping patches, each flattened into one token: kernel 7 stride 4, then 3/2, then 3/2, so 1/16 resolution)
alternates with a small transformer layer over the tokens, which are reshaped back into an image for the next
split. A linear projection takes the last split's tokens to the backbone's width; a class token and a learned
position embedding (sized from `img_size`: a fixed-size graph exports best) lead into a plain ViT backbone of timm
`Block`s. Those use timm's `Attention`, so pruning treats the backbone as it treats DeiT (head dims and MLPs); the
T2T module keeps its token width and prunes its MLPs (edgekit.pruning.handlers).

The soft split is `nn.Unfold` computed as a grouped convolution with fixed one-hot weights (`SoftSplit`): same
values and channel order, as a layer every exporter lowers (ONNX, TFLite, ExecuTorch/XNNPACK) and that quantizes
exactly (its weights are 0 and 1).

Written from the paper's description. Differences from the authors' release: the token attention scales by
1/sqrt(token_dim) (theirs by the input width), and the position embedding is learned (theirs a fixed sinusoid).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import Mlp, trunc_normal_, use_fused_attn
from timm.models.vision_transformer import Block
from torch import nn

from edgekit.models.plugins import register_model

FAMILY = "t2t-vit"
PAPER = "Yuan et al., 2021, arXiv:2101.11986"
#: (kernel, stride, padding) of the three soft splits: 1/4, then 1/8, then 1/16 of the input resolution
SPLITS = ((7, 4, 2), (3, 2, 1), (3, 2, 1))
LayerNorm = partial(nn.LayerNorm, eps=1e-6)


def split_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def grid_size(img_size: int) -> int:
    """Tokens per side after the three soft splits (img_size / 16 for multiples of 16)."""
    for kernel, stride, padding in SPLITS:
        img_size = split_size(img_size, kernel, stride, padding)
    return img_size


class SoftSplit(nn.Module):
    """`nn.Unfold(kernel, stride, padding)` followed by a transpose, as a grouped convolution with fixed one-hot
    weights: token channel c*k*k + i*k + j is input channel c at kernel offset (i, j), Unfold's order.

    (B, C, H, W) -> (B, H' * W', C * k * k). The weights never train (requires_grad=False) and are rebuilt by
    `reset_parameters`; they are in the state dict like any convolution's.
    """

    def __init__(self, channels: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.kernel = kernel
        self.proj = nn.Conv2d(channels, channels * kernel * kernel, kernel, stride, padding, groups=channels,
                              bias=False)
        self.proj.weight.requires_grad_(False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = self.kernel
        one_hot = torch.eye(k * k, dtype=self.proj.weight.dtype, device=self.proj.weight.device)
        with torch.no_grad():
            self.proj.weight.copy_(one_hot.reshape(k * k, 1, k, k).repeat(self.proj.in_channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class TokenAttention(nn.Module):
    """Single-head attention from a soft split's wide tokens to `dim` channels; the residual is v (the input is
    wider than the output), as in the paper's T2T transformer layer."""

    def __init__(self, in_dim: int, dim: int, qkv_bias: bool = False):
        super().__init__()
        self.qkv = nn.Linear(in_dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.fused_attn = use_fused_attn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, 1, -1).permute(2, 0, 3, 1, 4).unbind(0)  # (B, 1, N, D) each
        if self.fused_attn:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
            out = attn.softmax(dim=-1) @ v
        return (v + self.proj(out)).squeeze(1)


class TokenBlock(nn.Module):
    """The T2T module's transformer layer: token attention (in_dim -> dim, v residual), then a residual MLP."""

    def __init__(self, in_dim: int, dim: int, mlp_ratio: float = 1.0):
        super().__init__()
        self.norm1 = LayerNorm(in_dim)
        self.attn = TokenAttention(in_dim, dim)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokensToToken(nn.Module):
    """Soft split, token layer, re-structurize (tokens back to an image), twice; a last soft split; a linear
    projection to `embed_dim`. (B, 3, H, W) -> (B, (H/16) * (W/16), embed_dim)."""

    def __init__(self, in_chans: int = 3, token_dim: int = 64, embed_dim: int = 384):
        super().__init__()
        (k0, s0, p0), (k1, s1, p1), (k2, s2, p2) = SPLITS
        self.split0 = SoftSplit(in_chans, k0, s0, p0)
        self.token0 = TokenBlock(in_chans * k0 * k0, token_dim)
        self.split1 = SoftSplit(token_dim, k1, s1, p1)
        self.token1 = TokenBlock(token_dim * k1 * k1, token_dim)
        self.split2 = SoftSplit(token_dim, k2, s2, p2)
        self.project = nn.Linear(token_dim * k2 * k2, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        for split, layer in ((self.split0, self.token0), (self.split1, self.token1)):
            h, w = (split_size(s, split.kernel, split.proj.stride[0], split.proj.padding[0]) for s in (h, w))
            x = layer(split(x))
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)
        return self.project(self.split2(x))


class T2TViT(nn.Module):
    """T2T module, class token, position embedding, `depth` ViT blocks, final norm, linear head (timm's API:
    forward_features/forward_head, get_classifier/reset_classifier, no_weight_decay, group_matcher)."""

    def __init__(self, img_size: int = 224, num_classes: int = 1000, in_chans: int = 3, embed_dim: int = 384,
                 depth: int = 14, num_heads: int = 6, mlp_ratio: float = 3.0, token_dim: int = 64,
                 qkv_bias: bool = False, drop_rate: float = 0.0, drop_path_rate: float = 0.0):
        super().__init__()
        self.num_classes = num_classes
        self.num_prefix_tokens = 1
        self.tokens_to_token = TokensToToken(in_chans, token_dim, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid_size(img_size) ** 2 + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # stochastic depth, linear in depth
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, drop_path=rate,
                                            norm_layer=LayerNorm) for rate in rates])
        self.norm = LayerNorm(embed_dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return {"stem": r"^cls_token|^pos_embed|^tokens_to_token", "blocks": [(r"^blocks\.(\d+)", None),
                                                                          (r"^norm", (99999,))]}

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        width = self.cls_token.shape[-1]  # the pruned width when pruning narrowed the stream
        self.head = nn.Linear(width, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tokens_to_token(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pos_drop(x + self.pos_embed)
        return self.norm(self.blocks(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(x[:, 0])
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


#: the paper's Table 2 (T2T-ViT-t: transformer layers in the T2T module, token width 64), and a tiny one for CI
CONFIGS = {
    "t2t_vit_7": dict(embed_dim=256, depth=7, num_heads=4, mlp_ratio=2.0, token_dim=64),
    "t2t_vit_12": dict(embed_dim=256, depth=12, num_heads=4, mlp_ratio=2.0, token_dim=64),
    "t2t_vit_14": dict(embed_dim=384, depth=14, num_heads=6, mlp_ratio=3.0, token_dim=64),
    "test_t2t_vit": dict(embed_dim=64, depth=2, num_heads=2, mlp_ratio=2.0, token_dim=32),
}


def _build(name: str, num_classes: int, img_size: int, drop_path_rate: float) -> T2TViT:
    return T2TViT(img_size=img_size, num_classes=num_classes, drop_path_rate=drop_path_rate, **CONFIGS[name])


@register_model(family=FAMILY, img_multiple=16, notes=f"T2T-ViT-7, {PAPER}")
def t2t_vit_7(num_classes: int, img_size: int, drop_path_rate: float = 0.0) -> T2TViT:
    return _build("t2t_vit_7", num_classes, img_size, drop_path_rate)


@register_model(family=FAMILY, img_multiple=16, notes=f"T2T-ViT-12, {PAPER}")
def t2t_vit_12(num_classes: int, img_size: int, drop_path_rate: float = 0.0) -> T2TViT:
    return _build("t2t_vit_12", num_classes, img_size, drop_path_rate)


@register_model(family=FAMILY, img_multiple=16, notes=f"T2T-ViT-14, {PAPER}")
def t2t_vit_14(num_classes: int, img_size: int, drop_path_rate: float = 0.0) -> T2TViT:
    return _build("t2t_vit_14", num_classes, img_size, drop_path_rate)


@register_model(family=FAMILY, img_size=64, img_multiple=16, notes="a tiny T2T-ViT for tests (2 blocks of 64)")
def test_t2t_vit(num_classes: int, img_size: int, drop_path_rate: float = 0.0) -> T2TViT:
    return _build("test_t2t_vit", num_classes, img_size, drop_path_rate)
