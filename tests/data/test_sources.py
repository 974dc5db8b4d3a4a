import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from edgekit.core.errors import EdgekitError
from edgekit.data import check_data_spec, load_data
from edgekit.data.augment import AugmentPolicy
from edgekit.data.base import TensorImages, stratified_subset
from edgekit.data.batches import fetch, set_epoch, set_policy, set_train_size, unaugmented
from edgekit.data.folder import FolderImages
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


def _noise_folder(root, classes=("b", "a", "c"), per_class=4, size=(32, 32)):
    """PNGs of random pixels, classes written out of order; returns them as an N×3×H×W uint8 tensor and labels
    in ImageFolder order."""
    generator, images, labels = np.random.default_rng(0), [], []
    for target, c in enumerate(sorted(classes)):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = generator.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")
            images.append(torch.from_numpy(pixels).permute(2, 0, 1))
            labels.append(target)
    return torch.stack(images), torch.tensor(labels)


HEAVY = AugmentPolicy(crop="rrc", scale=(0.3, 1.0), auto_augment="rand-m9-mstd0.5", re_prob=0.5)


@pytest.mark.parametrize("policy", [AugmentPolicy(), HEAVY, AugmentPolicy(auto_augment="trivial")],
                         ids=["default", "rrc-rand-re", "trivial"])
def test_image_folder_and_in_memory_images_augment_alike(tmp_path, policy):
    """The same images at the target size (in-memory images are resized once to it, a folder's "rrc" crops the
    full-resolution file, so only same-size images can match exactly) give the same augmented tensors."""
    images, labels = _noise_folder(tmp_path / "imgs")
    folder = FolderImages(tmp_path / "imgs", 32, PREP, train=True, seed=4)
    memory = TensorImages(images, labels, 32, PREP, train=True, seed=4)
    for dataset in (folder, memory):
        set_policy(dataset, policy)
        set_epoch(dataset, 2)
    from_folder, from_memory = fetch(folder, list(range(12))), fetch(memory, list(range(12)))
    assert torch.equal(from_folder[1], from_memory[1])
    assert torch.equal(from_folder[0], from_memory[0])
    set_train_size(folder, 16)
    set_train_size(memory, 16)
    assert torch.equal(fetch(folder, [0, 5])[0], fetch(memory, [0, 5])[0])


def test_folder_images_list_like_torchvision_and_validate_like_timm(tmp_path):
    import timm.data
    from torchvision.datasets import ImageFolder

    _noise_folder(tmp_path / "imgs", size=(40, 52))
    (tmp_path / "imgs" / "c" / "notes.txt").write_text("not an image")
    ours, theirs = FolderImages(tmp_path / "imgs", 32, PREP, train=False), ImageFolder(str(tmp_path / "imgs"))
    assert ours.classes == theirs.classes == ["a", "b", "c"] and ours.class_to_idx == theirs.class_to_idx
    assert ours.samples == theirs.samples and ours.targets == theirs.targets
    timm_eval = timm.data.create_transform(input_size=(3, 32, 32), is_training=False, interpolation="bilinear",
                                           mean=PREP.mean, std=PREP.std, crop_pct=PREP.crop_pct)
    for index in (0, 7):
        image, target = ours[index]
        expected = timm_eval(Image.open(ours.samples[index][0]).convert("RGB"))
        assert target == theirs.targets[index]
        torch.testing.assert_close(image, expected, rtol=0, atol=1e-6)


def test_folder_images_pickle_and_their_training_subset_follows_the_trainer(tmp_path):
    _noise_folder(tmp_path / "imgs", size=(48, 40))
    data = load_data(str(tmp_path / "imgs"), 32, PREP, subset=None, seed=0)
    set_policy(data.train, HEAVY)
    set_train_size(data.train, 16)
    first = fetch(data.train, [0, 1])[0]
    assert first.shape == (2, 3, 16, 16) and data.val[0][0].shape == (3, 32, 32)
    assert torch.equal(fetch(pickle.loads(pickle.dumps(data.train)), [0, 1])[0], first)
    with unaugmented(data.train):
        assert torch.equal(fetch(data.train, [0])[0][0], data.val.dataset[data.train.indices[0]][0])
    assert data.train.dataset.train and not data.val.dataset.train
