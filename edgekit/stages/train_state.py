"""Resumable training state: written atomically every epoch, read back with weights_only=True."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.io import atomic_write_bytes

STATE_FORMAT = "edgekit-train-state"


def fingerprint(model: torch.nn.Module) -> str:
    """Architecture identity: every parameter/buffer name and shape."""
    shapes = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    return hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16]


def save_state(path: Path, payload: dict) -> None:
    """Serialise `payload` (tensors, numbers, strings, nested dicts) atomically."""
    buffer = io.BytesIO()
    torch.save({"format": STATE_FORMAT, "version": 1, **payload}, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def read_state(path: Path) -> dict:
    """Load a training state safely; a corrupt, truncated or foreign file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"--resume '{path}' does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle opcode, non-tensor objects...
        raise EdgekitError(f"--resume '{path}' is corrupt or truncated ({type(exc).__name__}); "
                           "it was left untouched") from exc
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise EdgekitError(f"--resume '{path}' is not an edgekit training state")
    return payload


def check_model(payload: dict, path: Path, model_name: str, arch: str | None = None) -> None:
    """Refuse a state written for another model (by name, and by architecture when `arch` is known)."""
    if payload.get("model_name") != model_name or (arch is not None and payload.get("arch") != arch):
        raise EdgekitError(f"--resume '{path}' is a checkpoint of another model ({payload.get('model_name')}, "
                           f"not {model_name})")


def check_compatible(payload: dict, path: Path, *, model_name: str, stage: str, arch: str, config: dict) -> None:
    """Refuse a state written for another model, stage or training configuration."""
    check_model(payload, path, model_name, arch)
    if payload.get("stage") != stage:
        raise EdgekitError(f"--resume '{path}' is a '{payload.get('stage')}' state, not '{stage}'")
    saved = json.loads(payload.get("config", "{}"))
    changed = sorted(k for k in config if saved.get(k) != config[k])
    if changed:
        raise EdgekitError(f"--resume '{path}' was written with other training settings ({', '.join(changed)})")
