"""What a --data SPEC holds, known without loading it: sizes for time estimates, a fingerprint for cache keys."""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from edgekit.data.sources import (
    DATASETS,
    IMAGE_SUFFIXES,
    SYNTHETIC_VAL,
    fashion_mnist_candidates,
)

CIFAR10_SIZES = (50_000, 10_000)
IMAGE_FOLDER_VAL_FRACTION = 0.2


@dataclass(frozen=True)
class DataInfo:
    """A dataset as the plan sees it before loading: its name, identity and split sizes (after --subset)."""

    name: str
    fingerprint: str
    n_train: int
    n_val: int
    labelled: bool
    num_classes: int | None


def describe(source: str, subset: int | None, seed: int) -> DataInfo:
    """Sizes and a content fingerprint of `source` (a registered dataset name or an ImageFolder directory)."""
    if source in DATASETS:
        name = DATASETS.canonical(source)
        if name == "synthetic":
            return DataInfo("synthetic", f"synthetic:seed={seed}", 0, SYNTHETIC_VAL, False, None)
        n_train, n_val, identity = _fashion_mnist() if name == "fashion-mnist" else (*CIFAR10_SIZES, "torchvision")
        classes = 10
    else:
        name = Path(source).name
        n_train, n_val, identity, classes = _image_folder(Path(source))
    n_train = min(n_train, subset) if subset else n_train
    return DataInfo(name, f"{name}:{identity}:subset={subset}:seed={seed}", n_train, n_val, True, classes)


def _idx_count(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        header = handle.read(8)
    return int.from_bytes(header[4:8], "big")


def _fashion_mnist() -> tuple[int, int, str]:
    for directory in fashion_mnist_candidates():
        train, val = directory / "train-images-idx3-ubyte.gz", directory / "t10k-images-idx3-ubyte.gz"
        if train.is_file() and val.is_file():
            sizes = ",".join(str((directory / n).stat().st_size) for n in (train.name, val.name))
            return _idx_count(train), _idx_count(val), f"{directory}:{sizes}"
    return 60_000, 10_000, "to-download"


def _image_folder(root: Path) -> tuple[int, int, str, int]:
    """Image counts and a digest of every image's path, size and mtime (a changed folder gets a new key)."""
    digest = hashlib.sha256()
    counts = {"train": 0, "val": 0, "all": 0}
    split = (root / "train").is_dir() and (root / "val").is_dir()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            relative = path.relative_to(root)
            stat = path.stat()
            digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
            part = relative.parts[0] if split and relative.parts[0] in ("train", "val") else "all"
            counts[part] += 1
    if split:
        n_train, n_val = counts["train"], counts["val"]
    else:
        n_val = max(1, round(counts["all"] * IMAGE_FOLDER_VAL_FRACTION))
        n_train = counts["all"] - n_val
    classes = [d for d in (root / "train" if split else root).iterdir() if d.is_dir() and not d.name.startswith(".")]
    return n_train, n_val, f"{root.resolve()}:{digest.hexdigest()[:16]}", len(classes)
