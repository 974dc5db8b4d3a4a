"""Tiny nets with every pattern the int8 scheme meets: ReLU6, batch norm, a residual add, SiLU and SE gates."""

from __future__ import annotations

import pytest
import torch


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(8)
        self.act = torch.nn.ReLU6()
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = torch.nn.Conv2d(8, 8, 1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = self.act(self.bn(self.stem(x)))
        x = x + self.pw(self.act(self.dw(x)))
        return self.head(x.mean((2, 3)))


class GatedNet(torch.nn.Module):
    """SiLU activations and a squeeze-excite gate: the sigmoid patterns EfficientNet and MobileViT are made of."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.reduce = torch.nn.Conv2d(8, 4, 1)
        self.expand = torch.nn.Conv2d(4, 8, 1)
        self.pw = torch.nn.Conv2d(8, 8, 1)
        self.head = torch.nn.Linear(8, 4)
        self.act = torch.nn.SiLU(inplace=True)  # timm's activation layers trace to the in-place silu_
        self.drop = torch.nn.Dropout(0.0)  # as in MobileViT's MLPs: an inference-mode dropout after the SiLU

    def forward(self, x):
        x = self.drop(self.act(self.stem(x)))
        gate = torch.sigmoid(self.expand(torch.nn.functional.silu(self.reduce(x.mean((2, 3), keepdim=True)))))
        return self.head(self.pw(x * gate).mean((2, 3)))


@pytest.fixture
def gated():
    torch.manual_seed(0)
    return GatedNet().eval()


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    model = TinyNet().eval()
    with torch.no_grad():  # non-trivial BN statistics, so folding matters
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture
def batches():
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(8, 3, 16, 16, generator=generator) for _ in range(4)]
