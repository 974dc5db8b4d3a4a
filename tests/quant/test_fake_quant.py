"""QAT graphs: fake-quantizers keep their ranges while validated, BatchNorms their statistics while frozen."""

import torch
from tiny_data import tiny_data

from edgekit.quant import pt2e, scheme
from edgekit.quant.fake_quant import frozen_observers


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def qat_graph():
    example = torch.randn(4, 3, 32, 32)
    prepared = pt2e.prepare(pt2e.capture(Net().eval(), example, fold_norms=False),
                            scheme.xnnpack_quantizer(True, ()), qat=True)
    pt2e.calibrate(prepared, [example])
    return prepared


def scales(model):
    return [m.scale.clone() for m in model.modules() if hasattr(m, "observer_enabled")]


def test_ranges_are_kept_inside_and_observing_resumes_after():
    prepared = qat_graph()
    before = scales(prepared)
    with torch.no_grad(), frozen_observers(prepared) as frozen:
        prepared(torch.randn(4, 3, 32, 32) * 10)
    assert frozen == len(before) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, scales(prepared)))
    with torch.no_grad():
        prepared(torch.randn(4, 3, 32, 32) * 10)
    assert any(not torch.equal(a, b) for a, b in zip(before, scales(prepared))), "observers were left switched off"


def test_validation_in_the_trainer_does_not_fit_ranges_to_the_validation_images():
    from edgekit.stages.accelerator import select
    from edgekit.stages.train import TrainConfig, _validate

    prepared = qat_graph()
    before = scales(prepared)
    config = TrainConfig(epochs=1, batch_size=8, eval_samples=None)
    record = _validate(prepared, tiny_data(), config, select("cpu"))
    assert "val_top1" in record
    assert all(torch.equal(a, b) for a, b in zip(before, scales(prepared)))


def running_stats(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k}


def train_step(prepared):
    prepared.train()
    loss = prepared(torch.randn(4, 3, 32, 32) * 3 + 1).square().mean()
    loss.backward()


def test_frozen_batch_norms_keep_their_statistics_through_training_steps():
    prepared = pt2e.freeze_batch_norms(qat_graph())
    before = running_stats(prepared)
    assert before
    train_step(prepared)
    assert all(torch.equal(v, running_stats(prepared)[k]) for k, v in before.items())
    assert any(p.grad is not None for p in prepared.parameters()), "the graph still trains"


def test_without_freezing_training_steps_overwrite_the_statistics():
    prepared = qat_graph()
    before = running_stats(prepared)
    train_step(prepared)
    assert any(not torch.equal(v, running_stats(prepared)[k]) for k, v in before.items())
