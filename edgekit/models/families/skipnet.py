"""SkipNet: ResNets whose residual blocks a per-input gate may skip (Wang et al., 2018, "SkipNet: Learning Dynamic
Routing in Convolutional Networks", arXiv:1711.09485).

Each block but the first of a stage (the one that changes resolution or width, never skipped, as in the paper) has
a gate looking at the block's input: global average pool, a linear projection to 10 dims, ReLU, a linear map to one
logit, sigmoid. That is the paper's recurrent gate (pool, projection to 10, a shared LSTM, linear, sigmoid) with the
LSTM replaced by a per-block feed-forward layer, so every gate is an ordinary layer the exporters and torch-pruning
see. A block's output is `g * block(x) + (1 - g) * x`, g the gate: g = 0 is the identity.

- training: straight-through hard gates (the forward uses g = [p > threshold], the gradient flows through p), or
  soft gates (g = p) with `gate_mode="soft"`; the model's `auxiliary_loss()` adds the compute cost
  `gate_cost * mean(p)` (the expected fraction of gated blocks executed), which the shared trainer adds to every
  objective (teacher training and distillation alike).
- inference: hard gates at `threshold` (0.5). Eager PyTorch and the default trace compute every block and select
  per input (dense: the same numbers, no saving). `use_control_flow(True)` (the exporters' switch, see
  edgekit.models.control_flow) makes each gated block `torch.cond(any gate open, run block, identity)`: with
  batch 1 a closed gate skips the block's convolutions for real (ONNX `If`).

Written from the paper's description; the supervised pre-training + reinforcement-learning schedule of the paper is
replaced by the straight-through estimator with the cost term (the paper's "hybrid" gradient, simplified).
"""

from __future__ import annotations

import torch
from timm.models.resnet import BasicBlock, downsample_conv
from torch import nn

from edgekit.models.plugins import register_model

FAMILY = "skipnet"
PAPER = "Wang et al., 2018, arXiv:1711.09485"
GATE_WIDTH = 10  # the paper's gate projects the pooled features to 10 dims
GATE_MODES = ("hard", "soft")


class Gate(nn.Module):
    """(B, C, H, W) -> (B,) probability that the block runs."""

    def __init__(self, channels: int, width: int = GATE_WIDTH):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Linear(channels, width)
        self.act = nn.ReLU()
        self.fc = nn.Linear(width, 1)
        nn.init.constant_(self.fc.bias, 2.0)  # start with the gates open (p ~ 0.88): training learns to close them

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(self.act(self.proj(self.pool(x).flatten(1))))).flatten()


def _select(run: torch.Tensor, block_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """run * block_out + (1 - run) * x per input; exact (block_out or x) when `run` is 0 or 1."""
    run = run.to(x.dtype).view(-1, 1, 1, 1)
    return block_out * run + x * (1 - run)


class GatedBlock(nn.Module):
    """A residual block and its gate (see the module docstring for the three ways it computes)."""

    def __init__(self, block: nn.Module, channels: int, threshold: float = 0.5):
        super().__init__()
        self.block = block
        self.gate = Gate(channels)
        self.threshold = threshold
        self.gate_mode = "hard"
        self.control_flow = False
        self.last_prob: torch.Tensor | None = None  # the gate of the last training forward (for the cost)

    def hard(self, prob: torch.Tensor) -> torch.Tensor:
        """1.0 where the block runs, else 0.0. Outside export tracing, with grad on, it carries p's gradient
        (straight-through; the value is unchanged), so training and torch-pruning's dependency graph see the gate."""
        hard = (prob > self.threshold).to(prob.dtype)
        if torch.is_grad_enabled() and prob.requires_grad and not torch.compiler.is_compiling():
            return hard + (prob - prob.detach())
        return hard

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prob = self.gate(x)
        if self.training:
            self.last_prob = prob
            run = prob if self.gate_mode == "soft" else self.hard(prob)
            return _select(run, self.block(x), x)
        run = self.hard(prob)
        if not self.control_flow:
            return _select(run, self.block(x), x)
        return torch.cond(run.sum() > 0.5, self._run, self._skip, (x, run))

    def _run(self, x: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
        return _select(run, self.block(x), x)

    @staticmethod
    def _skip(x: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
        return x.clone()  # a cond branch may not return its input itself

    def use_control_flow(self, enabled: bool) -> None:
        self.control_flow = enabled


class SkipResNet(nn.Module):
    """ResNet (basic blocks, timm's) with gated blocks; timm's API (forward_features/forward_head,
    get_classifier/reset_classifier), `auxiliary_loss()` for the trainer and `gate_decisions()` for reports."""

    #: what `use_control_flow` realises, for exporters' notes
    control_flow_name = "block skipping"

    def __init__(self, layers: tuple[int, ...], widths: tuple[int, ...] = (64, 128, 256, 512), num_classes: int = 1000,
                 in_chans: int = 3, stem_width: int = 64, threshold: float = 0.5, gate_cost: float = 0.1,
                 drop_path_rate: float = 0.0):
        super().__init__()
        self.num_classes = num_classes
        self.gate_cost = gate_cost
        self.stem = nn.Sequential(nn.Conv2d(in_chans, stem_width, 7, 2, 3, bias=False), nn.BatchNorm2d(stem_width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        total, index = sum(layers), 0
        stages, channels = [], stem_width
        for stage, (depth, width) in enumerate(zip(layers, widths)):
            blocks = []
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                down = (downsample_conv(channels, width, 1, stride, norm_layer=nn.BatchNorm2d)
                        if stride != 1 or channels != width else None)
                rate = drop_path_rate * index / max(total - 1, 1)
                block = BasicBlock(channels, width, stride, down, drop_path=_drop_path(rate))
                blocks.append(block if i == 0 else GatedBlock(block, channels, threshold))
                channels, index = width, index + 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes) if num_classes > 0 else nn.Identity()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():  # timm's zero_init_last: each residual branch starts as the identity
            if hasattr(module, "zero_init_last"):
                module.zero_init_last()

    def gated_blocks(self) -> list[GatedBlock]:
        return [m for m in self.modules() if isinstance(m, GatedBlock)]

    def set_threshold(self, threshold: float) -> None:
        for block in self.gated_blocks():
            block.threshold = threshold

    def set_gate_mode(self, mode: str) -> None:
        if mode not in GATE_MODES:
            raise ValueError(f"gate mode must be one of {GATE_MODES}, not {mode!r}")
        for block in self.gated_blocks():
            block.gate_mode = mode

    def use_control_flow(self, enabled: bool) -> None:
        for block in self.gated_blocks():
            block.use_control_flow(enabled)

    def auxiliary_loss(self) -> torch.Tensor | float:
        """gate_cost x the mean gate probability of the last training forward (0 when there was none)."""
        probs = [b.last_prob for b in self.gated_blocks() if b.last_prob is not None]
        for block in self.gated_blocks():
            block.last_prob = None
        if not probs or not self.gate_cost:
            return 0.0
        return self.gate_cost * torch.stack([p.float().mean() for p in probs]).mean()

    @torch.no_grad()
    def gate_decisions(self, x: torch.Tensor) -> torch.Tensor:
        """(B, gated blocks) booleans: which gated blocks run for each input (hard gates, eval semantics)."""
        decisions = []
        hooks = [b.gate.register_forward_hook(lambda m, i, out, b=b: decisions.append(out > b.threshold))
                 for b in self.gated_blocks()]
        try:
            was = self.training
            self.eval()(x)
            self.train(was)
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack(decisions, dim=1)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.fc.in_features if isinstance(self.fc, nn.Linear) else self.num_features,
                            num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _drop_path(rate: float) -> nn.Module | None:
    from timm.layers import DropPath

    return DropPath(rate) if rate > 0 else None


CONFIGS = {
    "skipnet_resnet18": dict(layers=(2, 2, 2, 2)),
    "skipnet_resnet34": dict(layers=(3, 4, 6, 3)),
    "test_skipnet": dict(layers=(1, 2, 2), widths=(16, 32, 64), stem_width=16),
}


def _build(name: str, num_classes: int, drop_path_rate: float, threshold: float, gate_cost: float) -> SkipResNet:
    """One of CONFIGS; `threshold` (a block runs when its gate's probability exceeds it) and `gate_cost` (the
    trainer's weight on the share of blocks run) can be set with --model-arg."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    if gate_cost < 0:
        raise ValueError(f"gate_cost must be >= 0, got {gate_cost}")
    return SkipResNet(num_classes=num_classes, drop_path_rate=drop_path_rate, threshold=float(threshold),
                      gate_cost=float(gate_cost), **CONFIGS[name])


@register_model(family=FAMILY, img_multiple=32, notes=f"SkipNet ResNet-18 (4 of 8 blocks gated), {PAPER}")
def skipnet_resnet18(num_classes: int, img_size: int, drop_path_rate: float = 0.0, threshold: float = 0.5,
                     gate_cost: float = 0.1) -> SkipResNet:
    return _build("skipnet_resnet18", num_classes, drop_path_rate, threshold, gate_cost)


@register_model(family=FAMILY, img_multiple=32, notes=f"SkipNet ResNet-34 (12 of 16 blocks gated), {PAPER}")
def skipnet_resnet34(num_classes: int, img_size: int, drop_path_rate: float = 0.0, threshold: float = 0.5,
                     gate_cost: float = 0.1) -> SkipResNet:
    return _build("skipnet_resnet34", num_classes, drop_path_rate, threshold, gate_cost)


@register_model(family=FAMILY, img_size=64, img_multiple=16,
                notes="a tiny SkipNet for tests (3 stages of 16/32/64, 2 of 5 blocks gated)")
def test_skipnet(num_classes: int, img_size: int, drop_path_rate: float = 0.0, threshold: float = 0.5,
                 gate_cost: float = 0.1) -> SkipResNet:
    return _build("test_skipnet", num_classes, drop_path_rate, threshold, gate_cost)
