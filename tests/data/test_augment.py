import copy
import json
import pickle
import random
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from edgekit.core.errors import EdgekitError
from edgekit.data.augment import AugmentPolicy, augment_image, item_keys, random_erase
from edgekit.data.base import TensorImages
from edgekit.data.batches import fetch, set_epoch, set_policy, set_train_size, unaugmented
from edgekit.data.progressive import pixel_share, progressive_stage, stage_fraction
from edgekit.models.build import Preprocessing

PREP = Preprocessing((0.5, 0.4, 0.3), (0.25, 0.2, 0.3), "bicubic", 0.9)
HEAVY = AugmentPolicy(crop="rrc", scale=(0.3, 1.0), auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.5)
POLICIES = [AugmentPolicy(), AugmentPolicy(crop="rrc"), AugmentPolicy(re_prob=1.0), HEAVY,
            AugmentPolicy(auto_augment="original"), AugmentPolicy(auto_augment="augmix-m5-w4-d2"),
            AugmentPolicy(auto_augment="trivial", flip=False)]


def _images(n=12, channels=3, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=generator)


def _dataset(policy=AugmentPolicy(), channels=3, size=32, stored=32, seed=5):
    dataset = TensorImages(_images(channels=channels, size=size), torch.arange(12) % 3, stored, PREP, train=True,
                           seed=seed)
    dataset.policy = policy
    return dataset


@pytest.mark.parametrize("channels,train_size,crop,re_prob", [(1, None, "pad", 0), (3, None, "pad", 0),
                                                              (3, 24, "pad", 0), (1, None, "none", 0),
                                                              (3, 24, "none", 0), (3, None, "pad", 0.5),
                                                              (1, 24, "none", 1.0)])
def test_vectorised_fast_path_equals_the_per_item_path(channels, train_size, crop, re_prob):
    policy = AugmentPolicy(crop=crop, re_prob=re_prob)
    dataset = _dataset(policy, channels=channels, size=28, stored=32)
    dataset.epoch, dataset.train_size = 3, train_size
    fast, _ = fetch(dataset, list(range(12)))
    keys = item_keys(5, 3, range(12))
    slow = torch.stack([augment_image(dataset.images[i], k, policy, PREP, 32, train_size)
                        for i, k in enumerate(keys)])
    assert policy.vectorised and fast.shape == (12, 3, train_size or 32, train_size or 32)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-6)


def test_random_erasing_puts_noise_in_one_rectangle_of_the_papers_size_per_erased_image():
    keys = item_keys(0, 0, range(400))
    batch = random_erase(torch.zeros(400, 3, 40, 40), keys, 0.5)
    erased = batch.abs().sum((1, 2, 3)) > 0
    assert 160 < int(erased.sum()) < 240  # about half of them, p = 0.5
    for image in batch[erased]:
        rows, cols = (image.abs().sum(0) > 0).nonzero(as_tuple=True)
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert len(rows) == h * w  # one filled rectangle
        assert 0.02 * 1600 - 2 * 40 <= h * w <= 1600 / 3 + 2 * 40 and 0.3 / 2 <= h / w <= 2 / 0.3
        assert torch.equal(image[0] != 0, image[2] != 0)  # every channel: per-pixel noise in the same place
    noise = batch[erased][batch[erased] != 0]
    assert abs(float(noise.mean())) < 0.05 and abs(float(noise.std()) - 1) < 0.05
    torch.testing.assert_close(random_erase(torch.zeros(400, 3, 40, 40), keys, 0.5), batch, rtol=0, atol=0)
    assert not random_erase(torch.zeros(400, 3, 40, 40), keys, 0.0).any()


def test_no_crop_keeps_each_image_whole_and_only_flips_it():
    dataset = _dataset(AugmentPolicy(crop="none"))
    plain = _dataset(AugmentPolicy(crop="none", flip=False))
    augmented, reference = fetch(dataset, list(range(12)))[0], fetch(plain, list(range(12)))[0]
    flipped = [torch.equal(a, r.flip(-1)) and not torch.equal(a, r) for a, r in zip(augmented, reference)]
    kept = [torch.equal(a, r) for a, r in zip(augmented, reference)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    unaugmented_val = TensorImages(dataset.images, dataset.labels, 32, PREP, train=False)
    torch.testing.assert_close(reference, fetch(unaugmented_val, list(range(12)))[0], rtol=0, atol=0)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.crop}-{p.auto_augment}-{p.re_prob}")
def test_same_key_same_image_whatever_the_global_rngs(policy):
    dataset = _dataset(policy)
    first, _ = fetch(dataset, list(range(12)))
    random.random(), np.random.rand(), torch.rand(3)  # a trainer drawing in between moves nothing
    again, _ = fetch(dataset, list(reversed(range(12))))
    assert torch.equal(first, again.flip(0))
    assert not torch.equal(first[0], first[1])
    set_epoch(dataset, 1)
    assert not torch.equal(first, fetch(dataset, list(range(12)))[0])


def test_augmentation_leaves_the_trainers_rng_states_alone():
    dataset = _dataset(HEAVY)
    torch.manual_seed(11), random.seed(11), np.random.seed(11)
    expected = torch.rand(4), random.random(), np.random.rand()
    torch.manual_seed(11), random.seed(11), np.random.seed(11)
    fetch(dataset, list(range(12)))
    augment_image(dataset.images[0], 3, HEAVY, PREP, 32)
    assert torch.equal(torch.rand(4), expected[0])
    assert (random.random(), np.random.rand()) == expected[1:]


def test_heavy_policy_changes_images_and_keeps_them_normalised():
    plain, heavy = fetch(_dataset(), list(range(12)))[0], fetch(_dataset(HEAVY), list(range(12)))[0]
    assert heavy.shape == plain.shape and heavy.dtype == torch.float32
    assert not torch.allclose(plain, heavy)


@pytest.mark.parametrize("name", ["rand-m9-mstd0.5-inc1", "rand-m9-n3-mstd0.5", "original", "v0", "v0r-mstd0.5",
                                  "augmix-m5-w4-d2", "trivial", "rand-m7-tweights"])
def test_timm_policy_strings_are_accepted(name):
    assert AugmentPolicy(auto_augment=name).auto_augment == name


@pytest.mark.parametrize("name", ["rand-x", "randaugment", "augmix-q3", "original-m3", "rand-m9.5", "trivia", ""])
def test_other_policy_strings_are_refused_in_one_line(name):
    with pytest.raises(EdgekitError, match=r"^auto_augment '.*' is not a timm policy \(rand-m9-mstd0.5, .*trivial\)$"):
        AugmentPolicy(auto_augment=name)


@pytest.mark.parametrize("changes,match", [({"crop": "center"}, "crop 'center'"), ({"scale": (0.5, 0.2)}, "scale"),
                                           ({"re_prob": 1.5}, "re_prob"), ({"magnitude_scale": -1}, "magnitude"),
                                           ({"auto_augment": "trivial", "magnitude_scale": 0.5}, "trivial")])
def test_bad_policy_fields_are_refused(changes, match):
    with pytest.raises(EdgekitError, match=match):
        AugmentPolicy(**changes)


def test_policy_is_json_able_and_the_default_is_vectorised():
    restored = AugmentPolicy(**json.loads(json.dumps(asdict(HEAVY))))
    assert restored == HEAVY and isinstance(restored.scale, tuple)
    assert AugmentPolicy().vectorised and AugmentPolicy(flip=False).vectorised and not HEAVY.vectorised


def test_magnitude_scale_changes_timm_policies():
    base = AugmentPolicy(auto_augment="rand-m9-n2-inc1")
    images = [fetch(_dataset(AugmentPolicy(**{**asdict(base), "magnitude_scale": s})), list(range(12)))[0]
              for s in (1.0, 0.3)]
    assert not torch.equal(*images)


def test_posterize_to_zero_bits_gives_black_instead_of_failing_on_pillow_13():
    from PIL import Image

    from edgekit.data.augment import _auto_augment_op

    ops = copy.deepcopy(_auto_augment_op("rand-m10-inc1", 1.0, 32, PREP.mean, PREP.interpolation).ops)
    posterize = next(o for o in ops if o.name == "PosterizeIncreasing")
    posterize.prob = 1.0
    image = Image.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8))
    assert np.asarray(posterize(image)).max() == 0


def test_subset_chains_get_policy_size_epoch_and_unaugmented():
    dataset = _dataset()
    chain = Subset(Subset(dataset, list(range(10))), [1, 2, 3, 4])
    set_policy(chain, HEAVY)
    set_train_size(chain, 16)
    set_epoch(chain, 2)
    assert (dataset.policy, dataset.train_size, dataset.epoch) == (HEAVY, 16, 2)
    assert fetch(chain, [0, 1])[0].shape == (2, 3, 16, 16)
    with unaugmented(chain):
        plain = fetch(chain, [0, 1])[0]
    assert dataset.train and plain.shape == (2, 3, 32, 32)  # validation view: the stored size, no augmentation
    assert torch.equal(plain, fetch(TensorImages(_images(), None, 32, PREP, train=False), [1, 2])[0])


def test_augmented_tensor_dataset_pickles():
    dataset = _dataset(HEAVY)
    assert torch.equal(fetch(pickle.loads(pickle.dumps(dataset)), [3])[0], fetch(dataset, [3])[0])


def test_progressive_stages_grow_size_and_magnitude_to_the_final_ones():
    policy = AugmentPolicy(auto_augment="rand-m15-mstd0.5")
    stages = [progressive_stage(e, 8, 64, 0.5, 16, policy) for e in range(8)]
    sizes = [size for size, _ in stages]
    assert sizes == [32, 32, 48, 48, 48, 48, 64, 64]  # 32, 42.7, 53.3, 64 rounded to multiples of 16
    scales = [p.magnitude_scale for _, p in stages]
    assert scales == sorted(scales) and scales[0] == pytest.approx(1 / 3) and scales[-1] == 1.0
    assert stages[-1][1] == policy
    assert progressive_stage(1, 2, 64, 0.5, 32, policy)[0] == 64  # fewer epochs than stages still end at 64
    assert progressive_stage(0, 4, 32, 0.1, 16, AugmentPolicy())[0] == 16  # never below the smallest size
    assert progressive_stage(0, 4, 64, 0.5, 16, AugmentPolicy(auto_augment="trivial"))[1].magnitude_scale == 1
    assert [stage_fraction(e, 8, 4) for e in range(8)] == [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1]
    with pytest.raises(EdgekitError, match="start_fraction"):
        progressive_stage(0, 4, 64, 0.0, 16, policy)


def test_pixel_share_is_the_mean_share_of_the_final_pixels_trained_on():
    # sizes 32, 32, 48, 48, 48, 48, 64, 64 (as above): pixel shares 1/4, 1/4, 9/16 × 4, 1, 1
    assert pixel_share(8, 64, 0.5, 16) == pytest.approx((0.25 * 2 + 9 / 16 * 4 + 2) / 8)
    assert pixel_share(8, 64, None, 16) == pixel_share(0, 64, 0.5) == 1.0
