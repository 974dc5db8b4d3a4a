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
    """In-memory uint8 images (N×C×h×w), resized once to the model's size, normalised on the fly.

    Grayscale becomes 3 channels. Training adds a reflect-padded random crop and a horizontal flip drawn from
    (seed, epoch, index) alone, so an item's augmentation is the same whichever process or resumed run loads
    it. Batches are built with one vectorised `__getitems__` call (the DataLoader uses it).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, img_size: int,
                 prep: Preprocessing, train: bool, seed: int = 0):
        self.images = _resize_uint8(images, img_size, prep.interpolation)
        self.labels = labels
        self.train = train
        self.pad = max(1, img_size // 8)
        self.mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(prep.std).view(1, 3, 1, 1)
        self.seed = seed
        self.epoch = 0  # set by the trainer at the start of every epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        index = torch.as_tensor(indices, dtype=torch.long)
        batch = self.images[index].float().div_(255.0)
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        if self.train:
            batch = self._augment(batch, index.numpy())
        batch = (batch - self.mean) / self.std
        labels = self.labels[index].tolist() if self.labels is not None else [-1] * len(indices)
        return list(zip(batch.unbind(0), labels))

    def _augment(self, batch: torch.Tensor, index: np.ndarray) -> torch.Tensor:
        size, span = batch.shape[-1], 2 * self.pad + 1
        draws = _hash64(np.uint64(self.seed) * np.uint64(1_000_003) + np.uint64(self.epoch), index)
        dy, dx, flip = draws % span, (draws // span) % span, (draws // (span * span)) % 2
        padded = torch.nn.functional.pad(batch, [self.pad] * 4, mode="reflect")
        crops = torch.stack([padded[i, :, y:y + size, x:x + size] for i, (y, x) in enumerate(zip(dy, dx))])
        flip_mask = torch.from_numpy(flip.astype(bool)).view(-1, 1, 1, 1)
        return torch.where(flip_mask, crops.flip(-1), crops)


def _hash64(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """splitmix64 of (key, index): independent, reproducible draws per item without RNG state."""
    with np.errstate(over="ignore"):
        z = index.astype(np.uint64) + key * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))).astype(np.int64) & np.int64(0x7FFFFFFFFFFFFFFF)


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
