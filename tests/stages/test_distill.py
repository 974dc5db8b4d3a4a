"""The distillation objective: KD loss, feature matching, cached teacher logits."""

import torch

from edgekit.models import resolve
from edgekit.models.build import create
from edgekit.stages.distill import Distillation, kd_loss


def test_kd_loss_is_zero_for_identical_logits_and_scales_with_t_squared():
    logits = torch.randn(8, 10)
    assert kd_loss(logits, logits, 4.0).abs().item() < 1e-6
    other = torch.randn(8, 10)
    assert kd_loss(other, logits, 1.0).item() > 0
    # at high temperature KL·T² tends to the mean squared logit gap / 2 (Hinton et al.), not to zero
    centred = other - other.mean(1, keepdim=True), logits - logits.mean(1, keepdim=True)
    limit = ((centred[0] - centred[1]) ** 2).mean(1).mul(0.5).mean()
    assert torch.isclose(kd_loss(other, logits, 100.0), limit, rtol=0.01)


def test_distillation_pulls_the_student_towards_the_teacher():
    torch.manual_seed(0)
    teacher = create(resolve("test_resnet"), 5, 32)
    student = create(resolve("test_resnet"), 5, 32)
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 5, (16,))
    objective = Distillation(teacher, student, images[:1], temperature=2.0, alpha=1.0, label_smoothing=0.0)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    student.train()
    losses = []
    for _ in range(30):
        loss, _ = objective.loss(student, images, labels, list(range(16)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_feature_distillation_adds_a_trainable_projection():
    teacher = create(resolve("test_convnext"), 5, 64)
    student = create(resolve("test_convnext"), 5, 64)
    example = torch.randn(2, 3, 64, 64)
    objective = Distillation(teacher, student, example, temperature=2.0, alpha=0.5, label_smoothing=0.1,
                             features=True)
    assert len(objective.modules()) == 1
    loss, logits = objective.loss(student, example, torch.tensor([0, 1]), [0, 1])
    loss.backward()
    assert logits.shape == (2, 5) and objective.projection.map.weight.grad is not None


def test_cached_teacher_logits_are_used_by_index():
    teacher = create(resolve("test_resnet"), 3, 32)
    student = create(resolve("test_resnet"), 3, 32)
    cached = torch.zeros(4, 3)
    cached[2] = torch.tensor([10.0, 0.0, 0.0])
    objective = Distillation(teacher, student, torch.randn(1, 3, 32, 32), temperature=1.0, alpha=1.0,
                             label_smoothing=0.0, cached_logits=cached)
    images = torch.randn(1, 3, 32, 32)
    student.eval()
    loss, logits = objective.loss(student, images, torch.tensor([0]), [2])
    assert torch.isclose(loss, kd_loss(logits, cached[[2]], 1.0))
