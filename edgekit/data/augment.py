"""One training augmentation policy for every dataset kind, drawn from a per-item key.

An item's key is the splitmix64 hash of (seed, epoch, index). Every random draw of its augmentation comes from
that key: the pad crop and flip straight from its bits, everything else (the resized crop, timm's auto-augment
policies, which draw from python's `random` and numpy's global RNG) from the global RNGs reseeded with it inside `preserved_rng`, which puts the caller's RNG states back afterwards.
The same key thus gives the same image in any process, DataLoader worker or resumed run, and the trainer's own
draws (dropout, drop-path) do not move.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from edgekit.core.errors import EdgekitError
from edgekit.models.build import Preprocessing

CROPS = ("pad", "rrc", "none")
RATIO = (3 / 4, 4 / 3)
POLICY_EXAMPLES = "rand-m9-mstd0.5, original, v0, augmix-m5-w4-d2, trivial"
_NUMBER = r"\d+(?:\.\d+)?"
_GRAMMAR = {  # timm's config strings, section by section (timm itself skips sections it cannot parse)
    "rand": re.compile(rf"(?:m|n|p|mstd|mmax|inc){_NUMBER}|t(?:weights|3aw|3a)"),
    "augmix": re.compile(rf"(?:m|w|d|a|b|mstd){_NUMBER}"),
    "auto": re.compile(rf"mstd{_NUMBER}"),
}
_AUTO_POLICIES = ("original", "originalr", "v0", "v0r", "3a")


@dataclass(frozen=True)
class AugmentPolicy:
    """How training images are augmented; the default is edgekit's historical pad crop + flip.

    crop: "pad" (reflect-pad by max(1, size // 8), random crop back at the final size), "rrc" (random resized
    crop of `scale` × the area, aspect ratio in 3/4..4/3, straight to the train size) or "none" (the whole image,
    for aligned, centred data such as Fashion-MNIST). auto_augment: a timm policy string (RandAugment `rand-…`,
    AutoAugment `original`/`v0`…, AugMix `augmix-…`) or `trivial` (torchvision's TrivialAugmentWide; timm has
    none). magnitude_scale multiplies the magnitude of timm's policies (progressive resizing grows it). re_prob:
    random erasing probability (per-pixel noise, `random_erase`).
    """

    crop: str = "pad"
    scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True
    auto_augment: str | None = None
    magnitude_scale: float = 1.0
    re_prob: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "scale", tuple(float(s) for s in self.scale))  # a list from JSON or YAML
        if self.crop not in CROPS:
            raise EdgekitError(f"augmentation crop '{self.crop}' is not one of {', '.join(CROPS)}")
        low, high = self.scale
        if not 0 < low <= high <= 1:
            raise EdgekitError(f"augmentation scale {self.scale} must satisfy 0 < low <= high <= 1")
        if not 0 <= self.re_prob <= 1:
            raise EdgekitError(f"augmentation re_prob {self.re_prob} must be within [0, 1]")
        if self.magnitude_scale < 0:
            raise EdgekitError(f"augmentation magnitude_scale {self.magnitude_scale} must be >= 0")
        if self.auto_augment is not None:
            check_auto_augment(self.auto_augment)
            if self.auto_augment == "trivial" and self.magnitude_scale != 1:
                raise EdgekitError("magnitude_scale applies to timm's policies; 'trivial' draws its own magnitude")

    @property
    def vectorised(self) -> bool:
        """Pad crop (or none), flip and random erasing: a whole batch augments in a few tensor operations."""
        return self.crop in ("pad", "none") and not self.auto_augment

    @property
    def scalable(self) -> bool:
        """The policy has a magnitude that `magnitude_scale` changes (timm's policies)."""
        return self.auto_augment is not None and self.auto_augment != "trivial"


def check_auto_augment(name: str) -> None:
    """Refuse a string that is not one of timm's auto-augment policies (or `trivial`)."""
    family, *sections = name.split("-")
    grammar = _GRAMMAR.get(family, _GRAMMAR["auto"] if family in _AUTO_POLICIES else None)
    valid = name == "trivial" or (grammar is not None and all(grammar.fullmatch(s) for s in sections))
    if valid:
        try:
            _auto_augment_op(name, 1.0, 32, (0.5, 0.5, 0.5), "bilinear")
        except (AssertionError, ValueError, KeyError, IndexError):
            valid = False
    if not valid:
        raise EdgekitError(f"auto_augment '{name}' is not a timm policy ({POLICY_EXAMPLES})")


def item_keys(seed: int, epoch: int, indices) -> np.ndarray:
    """splitmix64 of (seed, epoch, index) for each index: independent, reproducible per-item keys (int64 >= 0)."""
    key = np.uint64(seed) * np.uint64(1_000_003) + np.uint64(epoch)
    with np.errstate(over="ignore"):
        z = np.asarray(indices).astype(np.uint64) + key * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))).astype(np.int64) & np.int64(0x7FFFFFFFFFFFFFFF)


def pad_width(size: int) -> int:
    """The reflect padding of the pad crop at `size`."""
    return max(1, size // 8)


def pad_draws(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pad crop's offsets and the flip bit of each key (the fast path and the per-item path share them)."""
    span = 2 * pad_width(size) + 1
    return keys % span, (keys // span) % span, (keys // (span * span)) % 2


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Put torch's CPU, python's and numpy's global RNG states back as they were after the block."""
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        random.setstate(states[1])
        np.random.set_state(states[2])


def reseed(key: int) -> None:
    """Seed torch's CPU (not CUDA: the trainer's GPU draws stay put), python's and numpy's global RNGs."""
    torch.default_generator.manual_seed(key)
    random.seed(key)
    np.random.seed(key & 0xFFFFFFFF)


def augment_batch(images: Iterable, keys: Iterable[int], policy: AugmentPolicy, prep: Preprocessing,
                  img_size: int, train_size: int | None = None) -> torch.Tensor:
    """`augment_image` of each image with its key, stacked (the caller's RNG states saved once for all)."""
    with preserved_rng():
        return torch.stack([_augment(image, int(key), policy, prep, img_size, train_size or img_size)
                            for image, key in zip(images, keys)])


def augment_image(image, key: int, policy: AugmentPolicy, prep: Preprocessing, img_size: int,
                  train_size: int | None = None) -> torch.Tensor:
    """One training image (uint8 C×H×W tensor or PIL image), augmented by `policy` for `key`: a normalised float
    3×S×S tensor, S = `train_size` (default `img_size`).

    "pad" first squashes the image to `img_size` (in-memory images already are), crops there and resizes the
    crop to the train size; "rrc" crops the image as it is straight to the train size.
    """
    with preserved_rng():
        return _augment(image, int(key), policy, prep, img_size, train_size or img_size)


def _augment(image, key: int, policy: AugmentPolicy, prep: Preprocessing, img_size: int, size: int) -> torch.Tensor:
    """`augment_image` inside the caller's `preserved_rng`."""
    pixels = as_uint8(image)
    reseed(key)
    if policy.crop in ("pad", "none"):
        resized = resize_uint8(pixels[None], img_size, prep.interpolation).float().div_(255.0)
        x = fixed_size_crop(resized, np.array([key], dtype=np.int64), policy)[0]
        x = downsample(x[None], size)[0]
    else:
        x = _resized_crop(pixels, policy.scale, size, prep.interpolation)
        if policy.flip and random.random() < 0.5:
            x = x.flip(-1)
    if policy.auto_augment:
        x = _apply_auto_augment(x, policy, prep)
    x = normalise(x, prep)
    if policy.re_prob:
        random_erase(x[None], np.array([key], dtype=np.int64), policy.re_prob)
    return x


def as_uint8(image) -> torch.Tensor:
    """A uint8 3×H×W tensor of a PIL image or a uint8 1- or 3-channel tensor."""
    if not isinstance(image, torch.Tensor):
        image = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def fixed_size_crop(batch: torch.Tensor, keys: np.ndarray, policy: AugmentPolicy) -> torch.Tensor:
    """The policy's pad crop ("pad") or none ("none"), and flip when on, of each N×C×S×S float image for its
    key: the same draws in the batched and the per-image paths."""
    if policy.crop == "pad":
        return pad_crop(batch, keys, policy.flip)
    if not policy.flip:
        return batch
    flipped = pad_draws(keys, batch.shape[-1])[2]
    return _flip_where(batch, flipped)


def pad_crop(batch: torch.Tensor, keys: np.ndarray, flip: bool) -> torch.Tensor:
    """The reflect-padded random crop (and flip, when on) of each N×C×S×S float image for its key."""
    size, pad = batch.shape[-1], pad_width(batch.shape[-1])
    dy, dx, flipped = pad_draws(keys, size)
    padded = torch.nn.functional.pad(batch, [pad] * 4, mode="reflect")
    crops = torch.stack([padded[i, :, y:y + size, x:x + size] for i, (y, x) in enumerate(zip(dy, dx))])
    return _flip_where(crops, flipped) if flip else crops


def _flip_where(batch: torch.Tensor, flipped: np.ndarray) -> torch.Tensor:
    """Each image flipped horizontally where its bit is set."""
    flip_mask = torch.from_numpy(flipped.astype(bool)).view(-1, 1, 1, 1)
    return torch.where(flip_mask, batch.flip(-1), batch)


def _resized_crop(pixels: torch.Tensor, scale: tuple[float, float], size: int, interpolation: str) -> torch.Tensor:
    """A random crop of `scale` × the area (aspect ratio in RATIO) resized to size×size, floats in [0, 1];
    draws from python's `random`."""
    height, width = pixels.shape[-2:]
    top, left, h, w = _crop_box(height, width, scale)
    box = pixels[None, :, top:top + h, left:left + w].float().div_(255.0)
    return _interpolate(box, size, interpolation).clamp_(0, 1)[0]


def _crop_box(height: int, width: int, scale: tuple[float, float]) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a box of random area and aspect ratio; the largest centred box of a clamped ratio
    after ten misses (as RandomResizedCrop does)."""
    area, log_ratio = height * width, (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * random.uniform(*scale)
        ratio = math.exp(random.uniform(*log_ratio))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            return random.randint(0, height - h), random.randint(0, width - w), h, w
    ratio = min(max(width / height, RATIO[0]), RATIO[1])
    w, h = (width, round(width / ratio)) if width / height < ratio else (round(height * ratio), height)
    w, h = min(w, width), min(h, height)
    return (height - h) // 2, (width - w) // 2, h, w


def downsample(batch: torch.Tensor, size: int) -> torch.Tensor:
    """Float N×C×H×W images at size×size (antialiased bilinear), unchanged when already there."""
    if batch.shape[-1] == size and batch.shape[-2] == size:
        return batch
    return torch.nn.functional.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                                           align_corners=False)


def interpolation_mode(interpolation: str) -> str:
    """The torch/PIL interpolation for a timm config's (bilinear when it has none of those)."""
    return interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear"


def _interpolate(batch: torch.Tensor, size: int, interpolation: str) -> torch.Tensor:
    mode = interpolation_mode(interpolation)
    return torch.nn.functional.interpolate(batch, size=(size, size), mode=mode, antialias=mode != "nearest",
                                           **({} if mode == "nearest" else {"align_corners": False}))


def resize_uint8(images: torch.Tensor, size: int, interpolation: str, chunk: int = 4096) -> torch.Tensor:
    """uint8 N×C×H×W images squashed to size×size (antialiased), unchanged when already there."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        resized = _interpolate(images[start:start + chunk].float(), size, interpolation)
        out[start:start + chunk] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


def normalise(x: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """Floats in [0, 1] (C×H×W or N×C×H×W) normalised by the model's mean and std."""
    mean, std = _statistics(tuple(prep.mean), tuple(prep.std))
    return (x - mean) / std if x.dim() == 4 else (x - mean[0]) / std[0]


@functools.lru_cache(maxsize=8)
def _statistics(mean: tuple, std: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


def _apply_auto_augment(x: torch.Tensor, policy: AugmentPolicy, prep: Preprocessing) -> torch.Tensor:
    from PIL import Image

    pixels = x.mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    op = _auto_augment_op(policy.auto_augment, policy.magnitude_scale, x.shape[-1], tuple(prep.mean),
                          prep.interpolation)
    out = np.asarray(op(Image.fromarray(pixels)), dtype=np.uint8)
    return torch.from_numpy(out.copy()).permute(2, 0, 1).float().div_(255.0)


@functools.lru_cache(maxsize=64)
def _auto_augment_op(name: str, magnitude_scale: float, size: int, mean: tuple, interpolation: str):
    """timm's transform for `name` at `size` (hyper-parameters as timm's create_transform sets them), or
    torchvision's TrivialAugmentWide; timm's op magnitudes multiplied by `magnitude_scale`, its posterize ops
    made safe for Pillow 13."""
    from timm.data.auto_augment import augment_and_mix_transform, auto_augment_transform, rand_augment_transform
    from timm.data.transforms import str_to_pil_interp

    fill = tuple(min(255, round(255 * m)) for m in mean)
    if name == "trivial":
        from torchvision.transforms.v2 import InterpolationMode, TrivialAugmentWide

        return TrivialAugmentWide(interpolation=InterpolationMode(interpolation_mode(interpolation)), fill=list(fill))
    hparams = {"translate_const": int(size * 0.45), "img_mean": fill,
               "interpolation": str_to_pil_interp(interpolation_mode(interpolation))}
    if name.startswith("rand"):
        op = rand_augment_transform(name, hparams)
        ops = op.ops
    elif name.startswith("augmix"):
        op = augment_and_mix_transform(name, {**hparams, "translate_pct": 0.3})
        ops = op.ops
    else:
        op = auto_augment_transform(name, hparams)
        ops = [o for sub in op.policy for o in sub]
    for o in ops:
        o.magnitude *= magnitude_scale
        if o.name.startswith("Posterize"):
            o.aug_fn = _posterize
    return op


def _posterize(img, bits_to_keep: int, **_):
    """timm's posterize for Pillow 13, which refuses the 0 bits timm's levels reach: 0 bits keep nothing (black,
    as older Pillow gave)."""
    from PIL import Image, ImageOps

    if bits_to_keep >= 8:
        return img
    return ImageOps.posterize(img, bits_to_keep) if bits_to_keep > 0 else Image.new(img.mode, img.size)


def random_erase(batch: torch.Tensor, keys: np.ndarray, probability: float, tries: int = 10) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020; timm's `RandomErasing` in its per-pixel mode), in place on a normalised
    N×C×H×W batch, with every draw from each image's key: with `probability`, a rectangle of 2–33% of the area and
    aspect ratio 0.3–3.3 (up to `tries` to fit) becomes standard normal noise.

    timm's version draws from torch's global RNG, which would need a reseed per image; drawing from hashes of the
    keys (all images at once) keeps the batched and per-image paths bit-identical at a few µs per image.
    """
    height, width = batch.shape[-2:]
    keys = np.asarray(keys, dtype=np.int64)
    uniform = lambda draw: item_keys(_ERASE_STREAM, draw, keys) / float(2 ** 63)  # noqa: E731 - U[0, 1) per key
    todo = uniform(0) < probability
    for attempt in range(tries):
        if not todo.any():
            break
        area = height * width * (0.02 + (1 / 3 - 0.02) * uniform(4 * attempt + 1))
        aspect = np.exp(math.log(0.3) + 2 * math.log(1 / 0.3) * uniform(4 * attempt + 2))
        h, w = np.rint(np.sqrt(area * aspect)).astype(int), np.rint(np.sqrt(area / aspect)).astype(int)
        fits = todo & (h > 0) & (h < height) & (w > 0) & (w < width)
        top = (uniform(4 * attempt + 3) * (height - h + 1)).astype(int)
        left = (uniform(4 * attempt + 4) * (width - w + 1)).astype(int)
        for i in np.flatnonzero(fits).tolist():
            noise = torch.randn((batch.shape[1], h[i], w[i]), generator=torch.Generator().manual_seed(int(keys[i])))
            batch[i, :, top[i]:top[i] + h[i], left[i]:left[i] + w[i]] = noise.to(batch.dtype)
        todo &= ~fits
    return batch


#: the erasing draws' own hash stream of an item key (independent of the crop and flip bits taken from the key)
_ERASE_STREAM = 0x45524153
