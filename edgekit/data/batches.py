"""Batches of a dataset: vectorised fetches and the epoch that in-memory augmentation draws from."""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate


def set_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell an in-memory dataset (possibly behind a Subset) which epoch's augmentation to draw."""
    while dataset is not None:
        if hasattr(dataset, "epoch"):
            dataset.epoch = epoch
        dataset = getattr(dataset, "dataset", None)


def fetch(dataset: Dataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch, through the dataset's vectorised `__getitems__` when it has one."""
    getitems = getattr(dataset, "__getitems__", None)
    samples = getitems(indices) if getitems is not None else [dataset[i] for i in indices]
    images, labels = default_collate(samples)
    return images, labels


@contextlib.contextmanager
def unaugmented(dataset: Dataset) -> Iterator[Dataset]:
    """Turn an in-memory training set's augmentation off for the block (restored even when the block fails)."""
    augmenting = getattr(dataset, "train", None)
    if augmenting:
        dataset.train = False
    try:
        yield dataset
    finally:
        if augmenting:
            dataset.train = True


def first_images(dataset: Dataset, n: int) -> np.ndarray:
    """The first `n` model-ready images of `dataset` as an N×3×H×W float32 array."""
    n = min(n, len(dataset))
    return np.stack([dataset[i][0].numpy() for i in range(n)]).astype(np.float32)
