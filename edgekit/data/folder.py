"""ImageFolder images decoded on demand, augmented by the same policy and keys as in-memory data."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from edgekit.core.errors import EdgekitError
from edgekit.data.augment import (
    as_uint8,
    augment_batch,
    interpolation_mode,
    item_keys,
    normalise,
)
from edgekit.data.base import AugmentedImages
from edgekit.models.build import Preprocessing

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def list_folder(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and (path, target) samples in torchvision ImageFolder's order: classes sorted by name, files
    sorted by path within each class; hidden class folders are skipped."""
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    samples = []
    for target, name in enumerate(classes):
        walk = sorted(os.walk(root / name, followlinks=True))
        found = [(os.path.join(folder, f), target) for folder, _, files in walk
                 for f in sorted(files) if Path(f).suffix.lower() in IMAGE_SUFFIXES]
        if not found:
            raise EdgekitError(f"--data '{root}': class folder '{name}' has no images")
        samples += found
    return classes, samples


class FolderImages(AugmentedImages):
    """The images of one ImageFolder split, as normalised float 3×S×S tensors.

    Training augments each image by `policy` with the key of (seed, epoch, index), exactly as TensorImages does
    (the "rrc" crop straight to `train_size`, from the full-resolution image); validation resizes the shorter
    side to img_size / crop_pct and crops the centre (timm's eval transform). Picklable for DataLoader workers.
    """

    def __init__(self, root: Path, img_size: int, prep: Preprocessing, train: bool, seed: int = 0):
        super().__init__(img_size, prep, train, seed)
        self.root = Path(root)
        self.classes, self.samples = list_folder(self.root)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets = [target for _, target in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        if not self.train:
            return [(self._evaluate(self._load(i)), self.targets[i]) for i in indices]
        images = (self._load(i) for i in indices)
        batch = augment_batch(images, item_keys(self.seed, self.epoch, indices), self.policy, self.prep,
                              self.img_size, self.train_size)
        return list(zip(batch.unbind(0), [self.targets[i] for i in indices]))

    def _load(self, index: int):
        from PIL import Image

        with Image.open(self.samples[index][0]) as img:
            return img.convert("RGB")

    def _evaluate(self, img) -> torch.Tensor:
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as F

        mode = InterpolationMode(interpolation_mode(self.prep.interpolation))
        img = F.resize(img, math.floor(self.img_size / self.prep.crop_pct), mode)
        img = F.center_crop(img, self.img_size)
        return normalise(as_uint8(img).float().div_(255.0), self.prep)
