import numpy as np
import pytest
import torch
from PIL import Image

from edgekit.core.errors import EdgekitError
from edgekit.data import check_data_spec, load_data
from edgekit.data.base import stratified_subset
from edgekit.models.build import Preprocessing

PREP = Preprocessing((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "bilinear", 0.9)


def test_stratified_subset_keeps_proportions_and_is_seeded():
    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    picked = stratified_subset(labels, 100, seed=1)
    assert len(picked) == 100 and len(set(picked)) == 100
    assert np.bincount(labels[picked]).tolist() == [40, 30, 20, 10]
    assert np.array_equal(picked, stratified_subset(labels, 100, seed=1))
    assert not np.array_equal(picked, stratified_subset(labels, 100, seed=2))


def test_fashion_mnist_becomes_three_channel_model_input():
    data = load_data("fashion-mnist", 32, PREP, subset=200, seed=0)
    image, label = data.val[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert len(data.train) == 200 and len(data.val) == 10000 and data.num_classes == 10
    assert 0 <= label < 10
    assert torch.equal(image[0], image[1])  # grayscale replicated
    raw = image * 0.25 + 0.5
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5


def test_synthetic_has_no_labels():
    data = load_data("synthetic", 32, PREP, subset=None, seed=0)
    assert not data.has_labels and data.train is None and data.val[0][1] == -1


def _image_folder(root, classes=("cat", "dog"), per_class=10):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((20, 24, 3), i * 10, dtype=np.uint8)).save(root / c / f"{i}.png")


def test_single_image_folder_is_split_deterministically(tmp_path):
    _image_folder(tmp_path / "imgs")
    first = load_data(str(tmp_path / "imgs"), 32, PREP, subset=None, seed=3)
    again = load_data(str(tmp_path / "imgs"), 32, PREP, subset=None, seed=3)
    assert len(first.val) == 4 and len(first.train) == 16 and first.class_names == ["cat", "dog"]
    assert first.val.indices == again.val.indices
    assert first.val[0][0].shape == (3, 32, 32)


def test_train_val_folders(tmp_path):
    _image_folder(tmp_path / "ds" / "train")
    _image_folder(tmp_path / "ds" / "val", per_class=3)
    data = load_data(str(tmp_path / "ds"), 32, PREP, subset=4, seed=0)
    assert len(data.train) == 4 and len(data.val) == 6


def test_empty_or_classless_folders_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgekitError, match="no class sub-folders"):
        check_data_spec(str(tmp_path / "empty"))
    (tmp_path / "noimg" / "cls").mkdir(parents=True)
    with pytest.raises(EdgekitError, match="no images"):
        check_data_spec(str(tmp_path / "noimg"))
    with pytest.raises(EdgekitError, match="neither a known dataset"):
        check_data_spec("fashion_mnistt")
