"""Dataset sources: fashion-mnist, cifar10, ImageFolder directories and synthetic data."""

from __future__ import annotations

import copy
import gzip
import os
from pathlib import Path

import numpy as np
import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.paths import cache_dir
from edgekit.core.registry import Registry
from edgekit.data.base import (
    DataBundle,
    SyntheticImages,
    TensorImages,
    split_indices,
    stratified_subset,
)
from edgekit.data.folder import IMAGE_SUFFIXES, FolderImages
from edgekit.models.build import Preprocessing

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SYNTHETIC_VAL = 64
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")

DATASETS: Registry = Registry("dataset")

# Training defaults a dataset brings, under the family's training recipe (edgekit.stages.training_recipe).
TRAINING_DEFAULTS: dict[str, dict] = {
    # Centred, aligned product photos: a random crop only shifts them off the grid the test split uses. Measured
    # (benchmarks/tiny_budget.py): resnet18, 3,000 images, 32 px, 2 epochs: 74.65% top-1 with the pad crop, 80.20%
    # without; the demo's MobileNetV3-Small teacher 89.89% -> 91.58%.
    "fashion-mnist": {"crop": "none"},
}


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist_candidates() -> list[Path]:
    """Where the IDX files may be, in order: $EDGEKIT_FASHION_MNIST, Debian's package, edgekit's download."""
    candidates = [Path(p) for p in [os.environ.get("EDGEKIT_FASHION_MNIST")] if p]
    return [*candidates, DEBIAN_FASHION_DIR, cache_dir() / "data" / "FashionMNIST" / "raw"]


def fashion_mnist_dir() -> Path:
    """Where the four IDX files are: $EDGEKIT_FASHION_MNIST, Debian's package, or a torchvision download."""
    for directory in fashion_mnist_candidates():
        if all((directory / n).is_file() for n in FASHION_FILES):
            return directory
    try:
        import torchvision

        torchvision.datasets.FashionMNIST(str(cache_dir() / "data"), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(cache_dir() / "data"), train=False, download=True)
    except Exception as exc:
        raise EdgekitError(
            "Fashion-MNIST not found and could not be downloaded: install Debian's package "
            "(apt-get install dataset-fashion-mnist) or set EDGEKIT_FASHION_MNIST to a folder with the IDX .gz files"
        ) from exc
    return cache_dir() / "data" / "FashionMNIST" / "raw"


@DATASETS.register("fashion-mnist", aliases=("fashion_mnist", "fmnist"))
def load_fashion_mnist(img_size: int, prep: Preprocessing, subset: int | None, seed: int) -> DataBundle:
    directory = fashion_mnist_dir()
    train_x = torch.from_numpy(_read_idx(directory / "train-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    train_y = torch.from_numpy(_read_idx(directory / "train-labels-idx1-ubyte.gz").astype(np.int64))
    val_x = torch.from_numpy(_read_idx(directory / "t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    val_y = torch.from_numpy(_read_idx(directory / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    return _in_memory_bundle("fashion-mnist", train_x, train_y, val_x, val_y,
                             FASHION_CLASSES, img_size, prep, subset, seed)


@DATASETS.register("cifar10", aliases=("cifar-10",))
def load_cifar10(img_size: int, prep: Preprocessing, subset: int | None, seed: int) -> DataBundle:
    import torchvision

    root = str(cache_dir() / "data")
    try:
        train = torchvision.datasets.CIFAR10(root, train=True, download=True)
        val = torchvision.datasets.CIFAR10(root, train=False, download=True)
    except Exception as exc:
        raise EdgekitError(f"CIFAR-10 is not in {root} and could not be downloaded (offline?)") from exc

    def tensors(ds):  # N×H×W×3 uint8 -> N×3×H×W
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)

    (tx, ty), (vx, vy) = tensors(train), tensors(val)
    return _in_memory_bundle("cifar10", tx, ty, vx, vy, list(train.classes), img_size, prep, subset, seed)


def _in_memory_bundle(name, train_x, train_y, val_x, val_y, classes, img_size, prep, subset, seed):
    if subset is not None:
        keep = torch.from_numpy(stratified_subset(train_y.numpy(), subset, seed))
        train_x, train_y = train_x[keep], train_y[keep]
    return DataBundle(
        name=name,
        train=TensorImages(train_x, train_y, img_size, prep, train=True, seed=seed),
        val=TensorImages(val_x, val_y, img_size, prep, train=False),
        num_classes=len(classes), class_names=list(classes), has_labels=True,
    )


@DATASETS.register("synthetic")
def load_synthetic(img_size: int, prep: Preprocessing, subset: int | None, seed: int) -> DataBundle:
    return DataBundle(name="synthetic", val=SyntheticImages(SYNTHETIC_VAL, img_size, seed), train=None,
                      num_classes=None, class_names=None, has_labels=False)


def check_image_folder(root: Path) -> None:
    """Fail early on an empty or class-less ImageFolder."""
    if not root.is_dir():
        raise EdgekitError(f"--data '{root}' is neither a known dataset ({', '.join(DATASETS.names())}) nor a directory")
    splits = [root / "train", root / "val"] if (root / "train").is_dir() and (root / "val").is_dir() else [root]
    for split in splits:
        classes = [d for d in sorted(split.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        if not classes:
            raise EdgekitError(f"--data '{split}' has no class sub-folders (expected {split}/<class>/<image>)")
        if not any(f.suffix.lower() in IMAGE_SUFFIXES for c in classes for f in c.rglob("*")):
            raise EdgekitError(f"--data '{split}' has class folders but no images ({', '.join(sorted(IMAGE_SUFFIXES))})")


def load_image_folder(root: Path, img_size: int, prep: Preprocessing, subset: int | None, seed: int,
                      val_fraction: float = 0.2) -> DataBundle:
    """ImageFolder with train/ and val/ sub-folders, or one folder split deterministically by seed."""
    from torch.utils.data import Subset

    check_image_folder(root)
    split = (root / "train").is_dir() and (root / "val").is_dir()
    train = FolderImages(root / "train" if split else root, img_size, prep, train=True, seed=seed)
    val = FolderImages(root / "val", img_size, prep, train=False) if split else copy.copy(train)
    val.train = False
    labels = np.array(train.targets)
    if split:
        if train.classes != val.classes:
            raise EdgekitError(f"--data '{root}': train/ and val/ have different class folders")
        train_idx = np.arange(len(labels))
    else:
        train_idx, val_idx = split_indices(labels, val_fraction, seed)
        val = Subset(val, val_idx.tolist())
        labels = labels[train_idx]
    if subset is not None:
        train_idx = train_idx[stratified_subset(labels, subset, seed)]
    classes = list(train.classes)
    return DataBundle(
        name=root.name, train=Subset(train, train_idx.tolist()), val=val, num_classes=len(classes),
        class_names=classes, has_labels=True,
    )


def training_defaults(spec: str) -> dict:
    """The training options --data SPEC brings (TRAINING_DEFAULTS); none for ImageFolders."""
    return dict(TRAINING_DEFAULTS.get(DATASETS.canonical(spec), {})) if spec in DATASETS else {}


def check_data_spec(spec: str) -> None:
    """Validate --data before any work: a known dataset name or a usable ImageFolder."""
    if spec in DATASETS:
        return
    check_image_folder(Path(spec))


def load_data(spec: str, img_size: int, prep: Preprocessing, subset: int | None, seed: int) -> DataBundle:
    """Load --data SPEC: a registered dataset name or an ImageFolder directory."""
    if spec in DATASETS:
        return DATASETS.get(spec)(img_size, prep, subset, seed)
    return load_image_folder(Path(spec), img_size, prep, subset, seed)
