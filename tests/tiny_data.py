"""A tiny labelled in-memory dataset for trainer tests (random uint8 images, 4 classes)."""

from __future__ import annotations

import torch


def tiny_data(n: int = 64, size: int = 32, classes: int = 4):
    from edgekit.data.base import DataBundle, TensorImages
    from edgekit.models.build import Preprocessing

    prep = Preprocessing((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear", 1.0)
    images = torch.randint(0, 255, (n, 1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % classes
    return DataBundle("tiny", train=TensorImages(images, labels, size, prep, train=True),
                      val=TensorImages(images[:16], labels[:16], size, prep, train=False), num_classes=classes,
                      class_names=None, has_labels=True)
