"""Load user weights safely: safetensors, or plain-tensor pickles via weights_only=True."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from edgekit.core.errors import EdgekitError, first_line
from edgekit.models.head import classifier_modules

WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors or a .pt/.pth/.bin tensor-only checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"--weights '{path}' does not exist or is not a file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise EdgekitError(f"--weights '{path}' is not readable ({exc.strerror})") from exc
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise EdgekitError(f"--weights '{path}' is not a valid safetensors file ({exc})") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise EdgekitError(
            f"--weights '{path}' holds pickled Python objects, not plain tensors; edgekit never unpickles "
            "them: save model.state_dict() or convert to .safetensors"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise EdgekitError(f"--weights '{path}' is not a readable PyTorch checkpoint ({first_line(exc)})") from exc
    return _unwrap(obj, path)


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgekitError(f"--weights '{path}' is not a state dict of tensors (nor one under {'/'.join(WRAPPER_KEYS)})")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def apply_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Load `state` strictly; a classifier of another class count is re-initialised.

    Returns the names of re-initialised tensors (the head), so callers know fine-tuning is needed.
    """
    reset = head_to_reset(model, state, source)
    load = {k: v for k, v in state.items() if k not in reset}
    model.load_state_dict(load, strict=False)
    return reset


def head_to_reset(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """The classifier tensors `state` cannot fill (another class count); raises when anything else does not fit.

    Works on a model built on the meta device: only names and shapes are compared.
    """
    own = model.state_dict()
    head = _classifier_keys(model)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and state[k].shape != own[k].shape]
    reset = [k for k in mismatched if k in head]
    if any(k in head for k in missing) and not [k for k in missing if k not in head]:
        reset += [k for k in missing if k in head]
    bad_missing = [k for k in missing if k not in reset]
    bad_shapes = [k for k in mismatched if k not in reset]
    if bad_missing or unexpected or bad_shapes:
        parts = []
        if bad_shapes:
            parts.append("shape mismatch: " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in bad_shapes[:4]))
        if bad_missing:
            parts.append("missing: " + ", ".join(bad_missing[:4]))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:4]))
        more = len(bad_shapes) + len(bad_missing) + len(unexpected) - sum(min(4, len(x)) for x in (bad_shapes, bad_missing, unexpected))
        tail = f" (+{more} more)" if more > 0 else ""
        raise EdgekitError(f"{source} does not fit this model: " + "; ".join(parts) + tail)
    return reset


def _classifier_keys(model: torch.nn.Module) -> set[str]:
    ids = {id(p) for m in classifier_modules(model) for p in m.parameters()}
    return {name for name, p in model.named_parameters() if id(p) in ids}
