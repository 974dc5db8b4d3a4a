"""Keyed stochastic depth: the drop draws depend on (seed, step, layer, global position) only, so ranks and
micro-batches drop what one process drops; timm's modules are back after training."""

import torch
from timm.layers import DropPath

from edgekit.models import resolve
from edgekit.models.build import create
from edgekit.stages.stochastic_depth import KeyedDropPath, drawing, keyed


def test_swapped_for_training_and_put_back():
    model = create(resolve("test_vit"), 10, 32, drop_path=0.5)
    originals = [m for m in model.modules() if isinstance(m, DropPath)]
    with keyed(model) as count:
        assert count == len(originals) > 0
        assert not any(isinstance(m, DropPath) for m in model.modules())
    assert [m for m in model.modules() if isinstance(m, DropPath)] == originals


def test_draws_follow_the_global_position_not_the_slice():
    layer = KeyedDropPath(0.5, slot=3).train()
    x = torch.ones(8, 4)
    with drawing(seed=0, step=7, positions=list(range(8))):
        whole = layer(x)
    with drawing(seed=0, step=7, positions=[0, 1, 2, 3]):
        first = layer(x[:4])
    with drawing(seed=0, step=7, positions=[4, 5, 6, 7]):
        second = layer(x[4:])
    assert torch.equal(whole, torch.cat([first, second]))
    assert set(whole[:, 0].tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / keep
    with drawing(seed=0, step=8, positions=list(range(8))):
        assert not torch.equal(layer(x), whole)  # another step draws anew
    assert torch.equal(layer.eval()(x), x)
