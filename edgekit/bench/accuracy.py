"""Top-1/top-5 accuracy of any logits function over a labelled dataset."""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from edgekit.core.ui import progress


def limited(dataset: Dataset, n: int | None) -> Dataset:
    """The first `n` items of `dataset` (all when n is None)."""
    return dataset if n is None or n >= len(dataset) else Subset(dataset, range(n))


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Per k, how many rows have their label among the k largest logits (k capped at the number of classes)."""
    # imported here: benchmarks without data need no timm
    from timm.utils import accuracy

    percents = accuracy(logits, labels, topk=ks)  # 100 * correct / rows in floating point: rounded back to counts
    return [round(p.item() * len(labels) / 100) for p in percents]


def evaluate(logits_fn: Callable[[np.ndarray], np.ndarray], dataset: Dataset, dataset_name: str,
             batch_size: int = 64, label: str = "evaluate") -> dict | None:
    """Run `logits_fn` over `dataset`; None when the data has no labels (never a made-up number)."""
    collected = collect(logits_fn, dataset, batch_size, label)
    return None if collected is None else accuracy_of(*collected, dataset_name)


def collect(logits_fn: Callable[[np.ndarray], np.ndarray], dataset: Dataset, batch_size: int = 64,
            label: str = "evaluate") -> tuple[np.ndarray, np.ndarray] | None:
    """The logits of `logits_fn` over a labelled `dataset` and its labels, in order, with a progress bar showing
    the running top-1; None as soon as a batch has no labels."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    outputs, targets, correct, seen = [], [], 0, 0
    with progress() as bar:
        task = bar.add_task(label, total=len(dataset), status="")
        for images, labels in loader:
            if (labels < 0).any():
                return None
            logits = np.asarray(logits_fn(images.numpy()), dtype=np.float32)
            outputs.append(logits)
            targets.append(labels.numpy())
            correct += int((logits.argmax(1) == targets[-1]).sum())
            seen += len(labels)
            bar.update(task, advance=len(labels), status=f"top-1 {100 * correct / seen:.2f}%")
    if not targets:
        return None
    return np.concatenate(outputs), np.concatenate(targets)


#: module -> {n: (dataset, logits, labels)}: a model's logits over a validation pass, kept while the model lives
_PYTORCH_LOGITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pytorch_logits(model: torch.nn.Module, dataset: Dataset, n: int | None,
                   label: str = "accuracy pytorch") -> tuple[np.ndarray, np.ndarray] | None:
    """`model`'s logits and the labels over the first `n` items of `dataset` (`collect`), computed once per model
    and dataset: the evaluate stage and every file's verification of that model share one pass."""
    memo = _PYTORCH_LOGITS.setdefault(model, {})
    hit = memo.get(n)
    if hit is None or hit[0] is not dataset:
        hit = memo[n] = (dataset, collect(torch_logits_fn(model), limited(dataset, n), label=label))
    return hit[1]


def stacked(dataset: Dataset, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """All images (N×3×H×W float32) and labels of `dataset` as arrays (to send to a device)."""
    images, labels = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images).astype(np.float32), np.concatenate(labels)


def accuracy_of(logits: np.ndarray, labels: np.ndarray, dataset_name: str) -> dict | None:
    """Top-1/top-5 of precomputed logits; None when the data has no labels."""
    if len(labels) == 0 or (labels < 0).any():
        return None
    top1, top5 = topk_correct(torch.from_numpy(np.asarray(logits, dtype=np.float32)), torch.from_numpy(labels))
    return {"top1": round(100 * top1 / len(labels), 3), "top5": round(100 * top5 / len(labels), 3),
            "n": len(labels), "dataset": dataset_name}


def torch_logits_fn(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap an eval-mode module as a numpy logits function."""

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).float().numpy()

    return run
