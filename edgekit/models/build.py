"""Instantiate registered models (through timm, or a plugin's factory) at a chosen input size and class count."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

import torch

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.ui import info
from edgekit.models.zoo import ModelSpec

log = logging.getLogger(__name__)

MAX_IMG_SIZE = 1024
MIN_IMG_SIZE = 16


@dataclass(frozen=True)
class Preprocessing:
    """Normalisation and resize policy from the model's timm config."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    crop_pct: float


def check_img_size(spec: ModelSpec, img_size: int) -> None:
    """Reject sizes the architecture cannot take, before any work is done."""
    if not MIN_IMG_SIZE <= img_size <= MAX_IMG_SIZE:
        raise EdgekitError(
            f"--img-size {img_size} is out of range [{MIN_IMG_SIZE}, {MAX_IMG_SIZE}] "
            f"({spec.name} defaults to {spec.img_size})"
        )
    if img_size % spec.img_multiple:
        why = f" ({spec.notes})" if spec.notes else ""
        raise EdgekitError(
            f"{spec.name} needs --img-size to be a multiple of {spec.img_multiple}{why}; "
            f"got {img_size}, try {max(spec.img_multiple, round(img_size / spec.img_multiple) * spec.img_multiple)}"
        )


def create(spec: ModelSpec, num_classes: int, img_size: int, pretrained: bool = False,
           drop_path: float = 0.0) -> torch.nn.Module:
    """Build the model; timm architectures with size-dependent parts get `img_size`, those with stochastic depth
    `drop_path` (a training-time setting: the eval graph is the same). A plugin's factory is called instead."""
    if spec.factory is not None:
        return _plugin_create(spec, num_classes, img_size, pretrained, drop_path).eval()
    if not pretrained:
        return _timm_create(spec.timm_id, num_classes, img_size, pretrained=False, drop_path=drop_path,
                            args=dict(spec.args)).eval()
    if not _hub_reachable():  # use the local hub cache only, without a minute of retries
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            import huggingface_hub.constants

            huggingface_hub.constants.HF_HUB_OFFLINE = True
        except ImportError:
            pass
    try:
        return _timm_create(spec.timm_id, num_classes, img_size, pretrained=True, drop_path=drop_path,
                            args=dict(spec.args)).eval()
    except EdgekitError:
        raise
    except Exception as exc:  # hub/network errors come in many types
        raise EdgekitError(
            f"could not get pretrained weights for {spec.timm_id} ({type(exc).__name__}); offline? "
            "pass local weights with --weights PATH (.safetensors, or a tensor-only .pth)"
        ) from exc


def _timm_create(timm_id: str, num_classes: int, img_size: int, pretrained: bool,
                 drop_path: float = 0.0, args: dict | None = None) -> torch.nn.Module:
    """Fixed-size graphs export best: size-aware models get `img_size` (and dynamic sizing off); `args` are the
    user's --model-arg keywords."""
    import timm

    extra = {"drop_path_rate": drop_path} if drop_path else {}
    attempts = ({"img_size": img_size, "dynamic_img_size": False}, {"img_size": img_size}, {})
    for kwargs in attempts:
        try:
            return timm.create_model(timm_id, num_classes=num_classes, pretrained=pretrained, **kwargs, **extra,
                                     **(args or {}))
        except TypeError as exc:
            if extra and "drop_path_rate" in str(exc):
                info(f"[yellow]note:[/] {timm_id} has no stochastic depth: --drop-path {drop_path} is not used")
                return _timm_create(timm_id, num_classes, img_size, pretrained, args=args)
            if not any(k in str(exc) for k in kwargs):
                if args:  # the user's keywords are the likely cause: one line, not a traceback
                    raise EdgekitError(f"--model-arg {', '.join(args)}: timm's {timm_id} rejected them "
                                       f"({first_line(exc, 200)})") from exc
                raise
    raise AssertionError("unreachable")


def meta_model(spec: ModelSpec, num_classes: int, img_size: int) -> torch.nn.Module:
    """The model without weights (the meta device): its names, shapes and data config. A plugin whose code needs
    real tensors while building (an `.item()`, a numpy call) is built on the CPU instead."""
    try:
        with torch.device("meta"):
            return create(spec, num_classes, img_size)
    except EdgekitError:
        if not spec.plugin:
            raise
    return create(spec, num_classes, img_size)


def _plugin_create(spec: ModelSpec, num_classes: int, img_size: int, pretrained: bool,
                   drop_path: float) -> torch.nn.Module:
    """Call a plugin's factory (with `pretrained`/`drop_path_rate` when it takes them) and check what it returns;
    the spec's mean/std/interpolation/crop_pct become the module's timm data config (see `preprocessing`)."""
    kwargs: dict = dict(spec.args)
    refused = [key for key in kwargs if not _takes(spec.factory, key)]
    if refused:
        raise EdgekitError(f"--model-arg {refused[0]}: {spec.name}'s factory {spec.arch} takes no such argument "
                           f"(it takes: {', '.join(_keywords(spec.factory)) or 'none'})")
    if pretrained:
        if not _takes(spec.factory, "pretrained"):
            raise EdgekitError(f"{spec.name} ({spec.arch}) has no pretrained weights (its factory takes no "
                               "`pretrained` argument): pass local weights with --weights PATH")
        kwargs["pretrained"] = True
    if drop_path:
        if _takes(spec.factory, "drop_path_rate"):
            kwargs["drop_path_rate"] = drop_path
        else:
            info(f"[yellow]note:[/] {spec.name}'s factory takes no drop_path_rate: --drop-path {drop_path} is not used")
    try:
        model = spec.factory(num_classes=num_classes, img_size=img_size, **kwargs)
    except EdgekitError:
        raise
    except Exception as exc:  # the plugin's own code: any error, told in one line naming the factory
        raise EdgekitError(f"{spec.name}: its factory {spec.arch} failed for {num_classes} classes at {img_size} px "
                           f"({type(exc).__name__}: {first_line(exc, 200)})") from exc
    if not isinstance(model, torch.nn.Module):
        raise EdgekitError(f"{spec.name}: its factory {spec.arch} returned {type(model).__name__}, not a "
                           "torch.nn.Module")
    config = {key: value for key, value in (("mean", spec.mean), ("std", spec.std), ("crop_pct", spec.crop_pct),
                                            ("interpolation", spec.interpolation)) if value is not None}
    if config:
        model.pretrained_cfg = {**(getattr(model, "pretrained_cfg", None) or {}), **config}
    return model


def _takes(func, keyword: str) -> bool:
    """Whether `func` accepts `keyword` (by name, or through **kwargs)."""
    import inspect

    try:
        parameters = inspect.signature(func).parameters.values()
    except ValueError:
        return False
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in parameters)


def _keywords(func) -> list[str]:
    """The keyword arguments `func` takes besides num_classes and img_size (what --model-arg can set)."""
    import inspect

    try:
        parameters = inspect.signature(func).parameters.values()
    except ValueError:
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in ("num_classes", "img_size")]


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def preprocessing(model: torch.nn.Module) -> Preprocessing:
    """Mean/std/interpolation/crop from timm's data config of `model` (a plugin's registered values are its
    `pretrained_cfg`; ImageNet's defaults where nothing says otherwise)."""
    import timm.data

    cfg = timm.data.resolve_model_data_config(model)
    return Preprocessing(
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
        interpolation=str(cfg.get("interpolation", "bilinear")),
        crop_pct=float(cfg.get("crop_pct", 0.875)),
    )


def probe_forward(model: torch.nn.Module, spec: ModelSpec, img_size: int) -> torch.Tensor:
    """Run one image through `model`; turn shape errors into a clear message."""
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, 3, img_size, img_size))
    except Exception as exc:
        raise EdgekitError(
            f"{spec.name} cannot run at {img_size} px ({type(exc).__name__}: {first_line(exc, 160)}); "
            f"its default size is {spec.img_size}"
        ) from exc
    if isinstance(out, (tuple, list)):
        raise EdgekitError(f"{spec.name} returns {len(out)} outputs in eval mode; edgekit expects one logits tensor")
    return out
