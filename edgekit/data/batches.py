"""Batches of a dataset: vectorised fetches, and the epoch, policy and size its augmentation draws from."""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from edgekit.data.augment import AugmentPolicy


def datasets(dataset: Dataset | None) -> Iterator[Dataset]:
    """`dataset` and the datasets behind it (a chain of Subsets)."""
    while dataset is not None:
        yield dataset
        dataset = getattr(dataset, "dataset", None)


def _set(dataset: Dataset, name: str, value) -> None:
    for d in datasets(dataset):
        if hasattr(d, name):
            setattr(d, name, value)


def set_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell a training set (possibly behind Subsets) which epoch's augmentation to draw."""
    _set(dataset, "epoch", epoch)


def set_policy(dataset: Dataset, policy: AugmentPolicy) -> None:
    """The augmentation policy a training set (possibly behind Subsets) applies from now on."""
    _set(dataset, "policy", policy)


def set_train_size(dataset: Dataset, img_size: int | None) -> None:
    """The size a training set (possibly behind Subsets) augments to (progressive resizing); None: its own."""
    _set(dataset, "train_size", img_size)


def samples(dataset: Dataset, indices: list[int]) -> list:
    """The samples at `indices`, through the dataset's vectorised `__getitems__` when it has one."""
    getitems = getattr(dataset, "__getitems__", None)
    return getitems(indices) if getitems is not None else [dataset[i] for i in indices]


def fetch(dataset: Dataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch as (images, labels) tensors."""
    images, labels = default_collate(samples(dataset, indices))
    return images, labels


@contextlib.contextmanager
def unaugmented(dataset: Dataset) -> Iterator[Dataset]:
    """Turn a training set's augmentation off for the block (restored even when the block fails)."""
    augmenting = [d for d in datasets(dataset) if getattr(d, "train", None) is True]
    for d in augmenting:
        d.train = False
    try:
        yield dataset
    finally:
        for d in augmenting:
            d.train = True


def first_images(dataset: Dataset, n: int) -> np.ndarray:
    """The first `n` model-ready images of `dataset` as an N×3×H×W float32 array."""
    n = min(n, len(dataset))
    return np.stack([dataset[i][0].numpy() for i in range(n)]).astype(np.float32)
