"""BatchNorm folding into custom layers before PT2E capture (edgekit.quant.norm_folding)."""

import torch
from torch import nn

from edgekit.models import resolve
from edgekit.models.build import create
from edgekit.models.families.dynamic_conv import DynamicConv2d
from edgekit.quant.norm_folding import fold_batch_norms, foldable_pairs, with_folded_norms


def _random_statistics(model: nn.Module) -> nn.Module:
    """Trained-looking BatchNorms, some channels with the tiny variances and large gains that hurt int8."""
    generator = torch.Generator().manual_seed(0)
    for norm in model.modules():
        if isinstance(norm, nn.BatchNorm2d):
            shape = norm.running_var.shape
            norm.running_mean.copy_(torch.rand(shape, generator=generator) * 2 - 1)
            norm.running_var.copy_(10 ** (torch.rand(shape, generator=generator) * 4 - 4))
            norm.weight.data.copy_(torch.rand(shape, generator=generator) * 4 - 2)
            norm.bias.data.copy_(torch.rand(shape, generator=generator) * 2 - 1)
    return model.eval()


def test_folding_is_exact_and_removes_every_norm_after_a_dynamic_convolution():
    model = _random_statistics(create(resolve("test_dynamicconv"), num_classes=10, img_size=64))
    x = torch.randn(3, 3, 64, 64)
    expected = model(x)
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folded = with_folded_norms(model, x[:2])
    assert folded is not model and sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == norms  # a copy
    # every norm but the stem's (after a static conv: PT2E folds that one)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 1
    got = folded(x)
    assert (got - expected).abs().max() < 1e-4 * expected.abs().max()
    assert folded.blocks[0][0].bn1[1].__class__ is type(model.blocks[0][0].bn1.act)  # the activation is kept


def test_only_a_norm_reading_the_layer_output_itself_is_folded():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.direct, self.norm_direct = DynamicConv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.indirect, self.norm_indirect = DynamicConv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x):
            x = self.norm_direct(self.direct(x))
            return self.norm_indirect(torch.relu(self.indirect(x)))  # a ReLU between: not foldable

    model = _random_statistics(Net())
    x = torch.randn(2, 3, 16, 16)
    expected = model(x)
    assert foldable_pairs(model, x) == [("direct", "norm_direct")]
    assert fold_batch_norms(model, x) == ["norm_direct"]
    assert isinstance(model.norm_direct, nn.Identity) and isinstance(model.norm_indirect, nn.BatchNorm2d)
    assert (model(x) - expected).abs().max() < 1e-4 * expected.abs().max()


def test_a_dynamic_convolution_without_bias_gets_the_shift_as_its_bias():
    layer = DynamicConv2d(3, 4, 1, bias=False).eval()
    norm = _random_statistics(nn.Sequential(nn.BatchNorm2d(4)))[0]
    x = torch.randn(2, 3, 8, 8)
    expected = norm(layer(x))
    layer.fold_batch_norm(norm)
    assert layer.bias is not None and layer.bias.shape == (layer.num_kernels, 4)
    assert (layer(x) - expected).abs().max() < 1e-4 * expected.abs().max()


def test_a_model_without_foldable_layers_is_captured_as_it_is():
    model = create(resolve("test_effnet"), num_classes=10, img_size=32).eval()
    assert with_folded_norms(model, torch.randn(2, 3, 32, 32)) is model
