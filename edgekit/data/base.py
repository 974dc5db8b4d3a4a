"""Datasets as the pipeline sees them: labelled train/val splits with model-ready tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from edgekit.models.build import Preprocessing


@dataclass
class DataBundle:
    """Train and validation splits; `train is None` when the data cannot train (synthetic)."""

    name: str
    val: Dataset
    train: Dataset | None
    num_classes: int | None
    class_names: list[str] | None
    has_labels: bool
    #: a stable description of the data for cache keys (name, location, subset, seed)
    fingerprint: str


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of `n` samples keeping class proportions, deterministic for `seed`."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / counts.sum() * n).astype(int)
    remainder = n - quota.sum()
    order = np.argsort(-(counts / counts.sum() * n - quota), kind="stable")
    quota[order[:remainder]] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def split_indices(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified train/val split of one labelled folder."""
    n_val = max(1, int(round(len(labels) * val_fraction)))
    val = stratified_subset(labels, n_val, seed)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


class TensorImages(Dataset):
    """In-memory uint8 images (N×C×h×w), resized once to the model's size, normalised per item.

    Grayscale becomes 3 channels. Training adds a padded random crop and a horizontal flip.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, img_size: int,
                 prep: Preprocessing, train: bool, seed: int = 0):
        self.images = _resize_uint8(images, img_size, prep.interpolation)
        self.labels = labels
        self.train = train
        self.pad = max(1, img_size // 8)
        self.mean = torch.tensor(prep.mean).view(3, 1, 1)
        self.std = torch.tensor(prep.std).view(3, 1, 1)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = self.images[index].float().div_(255.0)
        if img.shape[0] == 1:
            img = img.expand(3, -1, -1)
        if self.train:
            img = self._augment(img)
        img = (img - self.mean) / self.std
        label = int(self.labels[index]) if self.labels is not None else -1
        return img.contiguous(), label

    def _augment(self, img: torch.Tensor) -> torch.Tensor:
        size = img.shape[-1]
        padded = torch.nn.functional.pad(img.unsqueeze(0), [self.pad] * 4, mode="reflect").squeeze(0)
        dy, dx = torch.randint(0, 2 * self.pad + 1, (2,), generator=self.generator).tolist()
        img = padded[:, dy:dy + size, dx:dx + size]
        if torch.rand((), generator=self.generator) < 0.5:
            img = img.flip(-1)
        return img


def _resize_uint8(images: torch.Tensor, size: int, interpolation: str, chunk: int = 4096) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    mode = interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear"
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        block = images[start:start + chunk].float()
        resized = torch.nn.functional.interpolate(
            block, size=(size, size), mode=mode, antialias=mode != "nearest",
            **({} if mode == "nearest" else {"align_corners": False}))
        out[start:start + chunk] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


class SyntheticImages(Dataset):
    """Random normalised images without labels: exercises the chain, measures no accuracy."""

    def __init__(self, n: int, img_size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, img_size, img_size, generator=generator)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], -1
