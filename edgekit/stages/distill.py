"""Knowledge distillation: the compressed student learns from the uncompressed FP32 teacher."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgekit.core.errors import EdgekitError
from edgekit.data.batches import fetch
from edgekit.stages.train import Objective


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature-scaled KL(teacher || student), multiplied by T² to keep gradient scale."""
    student, teacher = student.float(), teacher.float()
    return F.kl_div(F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
                    reduction="batchmean", log_target=True) * temperature ** 2


class Projection(torch.nn.Module):
    """A learnt 1×1 map from student feature width to teacher feature width (conv maps or token sequences)."""

    def __init__(self, student_channels: int, teacher_channels: int, spatial: bool):
        super().__init__()
        self.spatial = spatial
        self.map = (torch.nn.Conv2d(student_channels, teacher_channels, 1, bias=False) if spatial
                    else torch.nn.Linear(student_channels, teacher_channels, bias=False))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.map(features)


class Distillation(Objective):
    """alpha · KD(logits) + (1 − alpha) · CE(targets) [+ beta · MSE(projected student features, teacher features)]."""

    def __init__(self, teacher: torch.nn.Module, student: torch.nn.Module, example: torch.Tensor, *,
                 temperature: float, alpha: float, label_smoothing: float, features: bool = False,
                 feature_weight: float = 1.0, cached_logits: torch.Tensor | None = None):
        super().__init__(label_smoothing)
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.alpha, self.beta = temperature, alpha, feature_weight
        self.cached_logits = cached_logits
        self.projection = None
        if features:
            if not all(hasattr(m, "forward_features") and hasattr(m, "forward_head") for m in (student, teacher)):
                raise EdgekitError(f"--kd-features needs timm's forward_features/forward_head, which "
                                   f"{type(student).__name__} lacks: drop --kd-features")
            with torch.no_grad():
                fs, ft = student.forward_features(example), teacher.forward_features(example)
            spatial = fs.dim() == 4
            self.projection = Projection(fs.shape[1] if spatial else fs.shape[-1],
                                         ft.shape[1] if spatial else ft.shape[-1], spatial)

    def modules(self) -> list[torch.nn.Module]:
        return [self.projection] if self.projection is not None else []

    def to(self, device: torch.device) -> None:
        self.teacher.to(device)
        if self.cached_logits is not None:
            self.cached_logits = self.cached_logits.to(device)

    def loss(self, model, images, targets, indices):
        """KD on the images as given (mixed ones too: the teacher sees the same mix); CE on hard or soft targets."""
        student = model.module if hasattr(model, "module") else model
        with torch.no_grad():
            if self.projection is not None:
                teacher_features = self.teacher.forward_features(images)
                teacher_logits = self.teacher.forward_head(teacher_features)
            elif self.cached_logits is not None:
                teacher_logits = self.cached_logits[indices]
            else:
                teacher_logits = self.teacher(images)
        if self.projection is None:
            logits = model(images)
            feature_term = 0.0
        else:  # DDP's gradient hooks only fire through its forward; feature KD runs single-process
            features = student.forward_features(images)
            logits = student.forward_head(features)
            feature_term = self.beta * F.mse_loss(self._project(features), teacher_features)
        loss = self.alpha * kd_loss(logits, teacher_logits, self.temperature) + \
            (1 - self.alpha) * self.ce(logits, targets) + feature_term
        return loss, logits

    def _project(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(features)


@torch.inference_mode()
def teacher_logits(teacher: torch.nn.Module, dataset, batch_size: int = 256) -> torch.Tensor:
    """Teacher logits for every training image without augmentation (one fixed epoch, computed once)."""
    rows = []
    for begin in range(0, len(dataset), batch_size):
        images, _ = fetch(dataset, list(range(begin, min(len(dataset), begin + batch_size))))
        rows.append(teacher(images).float())
    return torch.cat(rows)
