"""Datasets as the pipeline sees them: labelled train/val splits with model-ready tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from edgekit.data.augment import (
    AugmentPolicy,
    augment_batch,
    downsample,
    fixed_size_crop,
    item_keys,
    normalise,
    random_erase,
    resize_uint8,
)
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


class AugmentedImages(Dataset):
    """A dataset the trainer steers: the epoch its augmentation draws from, the policy and the train size."""

    in_memory = False  # the trainer loads in-memory data without worker processes

    def __init__(self, img_size: int, prep: Preprocessing, train: bool, seed: int):
        self.img_size, self.prep, self.train, self.seed = img_size, prep, train, seed
        self.epoch = 0  # set by the trainer at the start of every epoch
        self.policy = AugmentPolicy()
        self.train_size: int | None = None  # None: img_size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        raise NotImplementedError


class TensorImages(AugmentedImages):
    """In-memory uint8 images (N×C×h×w), resized once to the model's size, normalised on the fly.

    Grayscale becomes 3 channels. Training augments by `policy` (edgekit.data.augment) with draws from (seed,
    epoch, index) alone, so an item's augmentation is the same whichever process or resumed run loads it. The
    default pad crop + flip builds a batch in a few vectorised operations (`__getitems__`, which the DataLoader
    uses); other policies go image by image. At a `train_size` below the stored size (progressive resizing) the
    augmented batch is downsampled; validation stays at the stored size.
    """

    in_memory = True

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, img_size: int,
                 prep: Preprocessing, train: bool, seed: int = 0):
        super().__init__(img_size, prep, train, seed)
        self.images = resize_uint8(images, img_size, prep.interpolation)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        index = torch.as_tensor(indices, dtype=torch.long)
        labels = self.labels[index].tolist() if self.labels is not None else [-1] * len(indices)
        if self.train and not self.policy.vectorised:
            batch = augment_batch(self.images[index].unbind(0), item_keys(self.seed, self.epoch, index.numpy()),
                                  self.policy, self.prep, self.img_size, self.train_size)
            return list(zip(batch.unbind(0), labels))
        batch = self.images[index].float().div_(255.0)
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        if not self.train:
            return list(zip(normalise(batch, self.prep).unbind(0), labels))
        keys = item_keys(self.seed, self.epoch, index.numpy())
        batch = normalise(downsample(fixed_size_crop(batch, keys, self.policy), self.train_size or self.img_size),
                          self.prep)
        if self.policy.re_prob:
            random_erase(batch, keys, self.policy.re_prob)
        return list(zip(batch.unbind(0), labels))


class SyntheticImages(Dataset):
    """Random normalised images without labels: exercises the chain, measures no accuracy."""

    def __init__(self, n: int, img_size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, img_size, img_size, generator=generator)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], -1
