"""PreciseBN (edgekit.stages.precise_bn): exact averages over the given batches, nothing else changes, and the
trainer recalibrates before each validation when asked."""

import torch
from tiny_data import tiny_data
from torch import nn

from edgekit.models import resolve
from edgekit.models.build import create
from edgekit.stages.precise_bn import recalibrate
from edgekit.stages.train import TrainConfig, train


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.BatchNorm2d(4))


def test_statistics_become_the_plain_average_of_the_batches_with_everything_else_in_eval_mode():
    model = _net().train()
    batches = [torch.randn(8, 3, 6, 6) * (i + 1) for i in range(3)]
    with torch.no_grad():
        features = [model[0](b) for b in batches]  # what the BatchNorm sees with dropout off
    rng = torch.get_rng_state()
    assert recalibrate(model, batches) == 24
    assert torch.equal(torch.get_rng_state(), rng)  # the trainer's random stream is untouched
    norm = model[2]
    expected_mean = torch.stack([f.mean((0, 2, 3)) for f in features]).mean(0)
    expected_var = torch.stack([f.var((0, 2, 3)) for f in features]).mean(0)
    assert torch.allclose(norm.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(norm.running_var, expected_var, rtol=1e-4)
    assert norm.momentum == 0.1 and all(m.training for m in model.modules())  # modes and momentum restored


def test_no_batches_or_no_batch_norm_leaves_the_model_as_it_was():
    model = _net().eval()
    norm = model[2]
    norm.running_mean.fill_(0.5)
    assert recalibrate(model, []) == 0
    assert torch.equal(norm.running_mean, torch.full((4,), 0.5)) and norm.num_batches_tracked == 0
    assert not any(m.training for m in model.modules())
    assert recalibrate(nn.Sequential(nn.Linear(3, 2)), [torch.randn(2, 3)]) == 0


def test_the_trainer_recalibrates_before_each_validation():
    model = create(resolve("test_resnet"), 4, 32)
    result = train(model, tiny_data(), TrainConfig(epochs=2, batch_size=16, lr=1e-3, eval_samples=16,
                                                   precise_bn=40), label="t")
    assert [h["precise_bn_images"] for h in result.history] == [40, 40]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.num_batches_tracked == 3 for m in norms)  # 16 + 16 + 8 images, averaged anew
    plain = train(create(resolve("test_resnet"), 4, 32), tiny_data(), TrainConfig(epochs=1, batch_size=16, lr=1e-3,
                                                                                eval_samples=16), label="t")
    assert "precise_bn_images" not in plain.history[0]
