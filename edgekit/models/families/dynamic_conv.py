"""Dynamic convolution (Chen et al., 2020, "Dynamic Convolution: Attention over Convolution Kernels",
arXiv:1912.03458): DY-MobileNetV3-Small/Large and DY-ResNet-18.

A `DynamicConv2d` holds K kernels and K biases (K=4, as in the paper) and mixes them per input: a small attention
(global average pool -> FC -> ReLU -> FC -> softmax(z / temperature)) gives K weights per image, the kernel bank is
aggregated with them (a (B, K) x (K, out * in/groups * k * k) matmul, the same for the biases), and each image is
convolved with its own kernel. The softmax temperature is annealed while training, from 30 to 1 over the first 10%
of a run (the paper: over its first 10 epochs), so that all kernels train at first; eval and export use the final
temperature (1). The trainer drives the annealing through `set_training_progress` (edgekit.stages.train).

The per-image convolution is computed as im2col + batched matmul: the k*k shifted (strided) slices of the padded
input are stacked into (B * groups, in/groups * k * k, H'W') columns and multiplied by the aggregated (B * groups,
out/groups, in/groups * k * k) kernels. Slices, concatenations, reshapes and matmuls keep the batch symbolic, so the
one graph exports with ONNX's dynamic batch and runs in onnxruntime, LiteRT and ExecuTorch alike (the batch-folded
grouped convolution of the reference code needs `groups = batch * groups`, a constant, and so a fixed batch), and
FlopCounterMode counts its MACs: aggregation, attention and the convolution itself (depthwise layers as a (1 x k*k)
x (k*k x H'W') product per channel). The bias joins the product in the same op (`baddbmm`): PT2E's XNNPACK quantizer
annotates a separate `add` and would quantize both of its inputs per tensor, and once a BatchNorm is folded into the
kernels (edgekit.quant.norm_folding) the product and the folded bias are both large and nearly cancel, so their int8
steps would be large against their sum.

Models (registered as dy_*, with the dynamicconv_* names as aliases, so that `edgekit models` keeps 80 columns):
timm's MobileNetV3-Small/Large and ResNet-18 with every convolution dynamic except the stem, the squeeze-excite FCs
and MobileNetV3's head convolution after the global pool (FC-like layers). At 224 px with 1000 classes
(edgekit.models.complexity), dynamic vs static: dy_mbv3_small 4.40M params / 58.8M MACs (2.54M / 56.5M),
dy_mbv3_large 11.48M / 224.0M (5.48M / 216.6M), dy_resnet18 45.49M / 1.859G (11.69M / 1.814G): K times the
convolution weights for a few percent more MACs (attention and aggregation). Written from the paper's description;
the hidden width of the attention is in/4 (at least 4).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import SEModule
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import decode_arch_def, round_channels
from timm.models.mobilenetv3 import MobileNetV3
from torch import nn

from edgekit.models.plugins import register_model

FAMILY_MOBILENET = "dyconv-mbv3"
FAMILY_RESNET = "dyconv-resnet"
PAPER = "Chen et al., 2020, arXiv:1912.03458"
NUM_KERNELS = 4
TEMPERATURE = (30.0, 1.0)  # the paper's annealing: from 30 to 1
ANNEAL_FRACTION = 0.1  # of a training run


class KernelAttention(nn.Module):
    """Per-image weights of the K kernels: global average pool -> FC -> ReLU -> FC -> softmax(z / temperature)."""

    def __init__(self, in_channels: int, num_kernels: int, reduction: int = 4):
        super().__init__()
        hidden = max(in_channels // reduction, 4)
        self.fc1 = nn.Linear(in_channels, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, num_kernels)

    def forward(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        logits = self.fc2(self.act(self.fc1(x.mean((2, 3)))))
        return torch.softmax(logits / temperature, dim=1)


class _Leaf(torch.autograd.Function):
    """`out` (computed without autograd) as one autograd node whose only input is `x`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return out.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None


class DynamicConv2d(nn.Module):
    """A Conv2d whose kernel and bias are per-image mixtures of K kernels (see the module docstring).

    `weight` is the bank of K kernels, (K, out, in/groups * kh * kw) (3-D: `Module.to(memory_format=...)` leaves it
    alone; `kernels` views it as (K, out, in/groups, kh, kw)), `bias` the (K, out) biases. `temperature` is what training
    forwards use; it only falls (annealing never restarts in a model that has annealed), and eval forwards use
    `final_temperature`. While `trace_leaf` is set, the output's autograd graph is one node from the input: a
    graph tracer (torch-pruning's dependency graph, edgekit.pruning.layer_pruners) then sees the layer, not its
    matmuls and reshapes.
    """

    trace_leaf = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0, dilation: int = 1, groups: int = 1, bias: bool = True,
                 num_kernels: int = NUM_KERNELS, reduction: int = 4, temperature: tuple[float, float] = TEMPERATURE,
                 anneal_fraction: float = ANNEAL_FRACTION):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"channels {in_channels} -> {out_channels} are not divisible by groups {groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = (kh, kw)
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
        self.dilation = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
        self.num_kernels = num_kernels
        self.temperature, self.final_temperature = temperature
        self.initial_temperature, self.anneal_fraction = temperature[0], anneal_fraction
        self.weight = nn.Parameter(torch.empty(num_kernels, out_channels, in_channels // groups * kh * kw))
        self.bias = nn.Parameter(torch.empty(num_kernels, out_channels)) if bias else None
        self.attention = KernelAttention(in_channels, num_kernels, reduction)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each kernel and bias initialised like an nn.Conv2d's."""
        fan_in = self.weight.shape[-1]
        for k in range(self.num_kernels):
            nn.init.kaiming_uniform_(self.kernels[k], a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def parameter_lr_scales(self) -> dict[str, float]:
        """Learning-rate multiples for the trainer: the K kernels and biases learn at K times the base rate.

        While the attention is near uniform (at initialisation, and at the annealing's high temperature) the mixed
        kernel is the mean of the K kernels, and each kernel gets 1/K of its gradient: plain SGD would move the
        mixed kernel at 1/K of the rate a static convolution's kernel moves.
        """
        return {"weight": float(self.num_kernels), "bias": float(self.num_kernels)}

    @property
    def kernels(self) -> torch.Tensor:
        """The bank as (K, out, in/groups, kh, kw) (a view of `weight`)."""
        return self.weight.view(self.num_kernels, self.out_channels, self.in_channels // self.groups,
                                *self.kernel_size)

    def set_training_progress(self, progress: float) -> None:
        """Anneal the softmax temperature linearly from its initial to its final value over the first
        `anneal_fraction` of training (progress in [0, 1] over the whole run)."""
        start, end = self.initial_temperature, self.final_temperature
        scheduled = end + (start - end) * max(0.0, 1.0 - progress / self.anneal_fraction)
        self.temperature = min(self.temperature, scheduled)

    @torch.no_grad()
    def fold_batch_norm(self, norm: nn.BatchNorm2d) -> None:
        """Absorb the eval-mode BatchNorm applied to this layer's output: every kernel and bias is scaled by
        γ/σ and every bias shifted by β - μγ/σ. Exact, since the attention's K weights sum to 1
        (edgekit.quant.norm_folding)."""
        std = (norm.running_var + norm.eps).sqrt()
        scale = (norm.weight / std) if norm.affine else 1 / std
        shift = (norm.bias if norm.affine else 0) - norm.running_mean * scale
        self.weight.mul_(scale[None, :, None])
        if self.bias is None:
            self.bias = nn.Parameter(shift.expand(self.num_kernels, -1).clone())
        else:
            self.bias.mul_(scale).add_(shift)

    def kernel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, K) attention over the kernels for input `x`."""
        return self.attention(x, self.temperature if self.training else self.final_temperature)

    def columns(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """im2col without an im2col op: (B, C, H, W) -> (B, C * kh * kw, H' * W') in Unfold's channel order, and
        (H', W')."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        if (kh, kw, sh, sw) == (1, 1, 1, 1) and not any(self.padding):  # pointwise: the input is its own columns
            return x.flatten(2), tuple(x.shape[-2:])
        if any(self.padding):
            x = F.pad(x, (self.padding[1], self.padding[1], self.padding[0], self.padding[0]))
        height, width = x.shape[-2:]
        out_h, out_w = (height - dh * (kh - 1) - 1) // sh + 1, (width - dw * (kw - 1) - 1) // sw + 1
        taps = [x[:, :, i * dh:i * dh + sh * (out_h - 1) + 1:sh, j * dw:j * dw + sw * (out_w - 1) + 1:sw]
                for i in range(kh) for j in range(kw)]
        cols = taps[0].unsqueeze(2) if len(taps) == 1 else torch.stack(taps, dim=2)  # (B, C, kh*kw, H', W')
        return cols.flatten(3).flatten(1, 2), (out_h, out_w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.trace_leaf:
            with torch.no_grad():
                out = self.convolve(x)
            return _Leaf.apply(x, out)
        return self.convolve(x)

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        """Attention, kernel aggregation and the per-image convolution."""
        batch, groups = x.shape[0], self.groups
        attention = self.kernel_weights(x)
        weight = attention @ self.weight.flatten(1)  # (B, out * in/g * kh * kw)
        cols, (out_h, out_w) = self.columns(x)
        cols = cols.reshape(batch * groups, -1, out_h * out_w)  # (B*g, in/g * kh * kw, H'W')
        weight = weight.reshape(batch * groups, self.out_channels // groups, -1)
        if self.bias is None:
            out = torch.bmm(weight, cols)
        else:  # one op: a separate add would be quantized per input (see the module docstring)
            bias = (attention @ self.bias).reshape(batch * groups, self.out_channels // groups, 1)
            out = torch.baddbmm(bias, weight, cols)  # (B*g, out/g, H'W')
        return out.reshape(batch, self.out_channels, out_h, out_w)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, num_kernels={self.num_kernels}")


class DepthwiseDynamicConv2d(DynamicConv2d):
    """A depthwise DynamicConv2d (groups == in == out): its own class, so that torch-pruning ties its input and
    output channels (edgekit.pruning.handlers)."""


def dynamic_conv(conv: nn.Conv2d, num_kernels: int = NUM_KERNELS) -> DynamicConv2d:
    """A DynamicConv2d with `conv`'s geometry (depthwise ones as DepthwiseDynamicConv2d); every kernel has a bias,
    as in the paper."""
    if type(conv) is not nn.Conv2d or not isinstance(conv.padding, tuple) or conv.padding_mode != "zeros":
        raise ValueError(f"{conv}: only a plain nn.Conv2d with explicit zero padding has a dynamic counterpart")
    depthwise = conv.groups == conv.in_channels == conv.out_channels and conv.groups > 1
    cls = DepthwiseDynamicConv2d if depthwise else DynamicConv2d
    return cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
               conv.groups, bias=True, num_kernels=num_kernels)


def make_dynamic(model: nn.Module, keep: tuple[str, ...] = (), num_kernels: int = NUM_KERNELS) -> nn.Module:
    """Replace every nn.Conv2d of `model` by a DynamicConv2d of `num_kernels` kernels (--model-arg num_kernels=K),
    except those named in `keep` and those of squeeze-excite modules; returns `model`."""
    if int(num_kernels) != num_kernels or num_kernels < 1:
        raise ValueError(f"num_kernels must be a whole number >= 1, got {num_kernels}")
    inside_se = {id(m) for se in model.modules() if isinstance(se, (SqueezeExcite, SEModule)) for m in se.modules()}
    for name, conv in list(model.named_modules()):
        if isinstance(conv, nn.Conv2d) and name not in keep and id(conv) not in inside_se:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, dynamic_conv(conv, int(num_kernels)))
    return model


def _timm(name: str, num_classes: int, drop_path_rate: float) -> nn.Module:
    import timm

    return timm.create_model(name, num_classes=num_classes, drop_path_rate=drop_path_rate)


@register_model(name="dy_mbv3_small", aliases=("dynamicconv_mbv3_small",), family=FAMILY_MOBILENET,
                notes=f"DY-MobileNetV3-Small, K=4, {PAPER}")
def dynamicconv_mbv3_small(num_classes: int, img_size: int, drop_path_rate: float = 0.0,
                           num_kernels: int = NUM_KERNELS) -> nn.Module:
    return make_dynamic(_timm("mobilenetv3_small_100", num_classes, drop_path_rate), keep=("conv_stem", "conv_head"),
                        num_kernels=num_kernels)


@register_model(name="dy_mbv3_large", aliases=("dynamicconv_mbv3_large",), family=FAMILY_MOBILENET,
                notes=f"DY-MobileNetV3-Large, K=4, {PAPER}")
def dynamicconv_mbv3_large(num_classes: int, img_size: int, drop_path_rate: float = 0.0,
                           num_kernels: int = NUM_KERNELS) -> nn.Module:
    return make_dynamic(_timm("mobilenetv3_large_100", num_classes, drop_path_rate), keep=("conv_stem", "conv_head"),
                        num_kernels=num_kernels)


@register_model(name="dy_resnet18", aliases=("dynamicconv_resnet18",), family=FAMILY_RESNET,
                notes=f"DY-ResNet-18, K=4, {PAPER}")
def dynamicconv_resnet18(num_classes: int, img_size: int, drop_path_rate: float = 0.0,
                         num_kernels: int = NUM_KERNELS) -> nn.Module:
    return make_dynamic(_timm("resnet18", num_classes, drop_path_rate), keep=("conv1",), num_kernels=num_kernels)


#: a tiny MobileNetV3: a depthwise-separable block, an edge-residual block (dense 3x3, stride 2) and an inverted
#: residual with squeeze-excite, so every kind of dynamic convolution is exercised; 3x3 kernels keep its graph small
TINY_ARCH = [["ds_r1_k3_s2_e1_c8_se0.25_nre"], ["er_r1_k3_s2_e2_c16_nre"], ["ir_r1_k3_s2_e3_c24_se0.25"]]


@register_model(family=FAMILY_MOBILENET, img_size=64, notes="a tiny DY-MobileNetV3 for tests (3 blocks)")
def test_dynamicconv(num_classes: int, img_size: int, drop_path_rate: float = 0.0,
                     num_kernels: int = NUM_KERNELS) -> nn.Module:
    from functools import partial

    from timm.layers import get_act_layer

    se = partial(SqueezeExcite, gate_layer="hard_sigmoid", force_act_layer=nn.ReLU, rd_round_fn=round_channels)
    model = MobileNetV3(decode_arch_def(TINY_ARCH), num_classes=num_classes, stem_size=8, num_features=64,
                        act_layer=get_act_layer("hard_swish"), se_layer=se, drop_path_rate=drop_path_rate)
    return make_dynamic(model, keep=("conv_stem", "conv_head"), num_kernels=num_kernels)
