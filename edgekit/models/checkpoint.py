"""Checkpoints as safetensors + a JSON description of the architecture (never a pickle)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from edgekit import __version__
from edgekit.core.errors import EdgekitError
from edgekit.core.io import atomic_write_bytes, atomic_write_json, ensure_free_space

if TYPE_CHECKING:
    from edgekit.models.zoo import ModelSpec

WEIGHTS_FILE = "model.safetensors"
DESCRIPTION_FILE = "model.json"
FORMAT_TAG = "edgekit-checkpoint"


@dataclass
class ModelDescription:
    """Everything needed to rebuild the module before its weights are loaded."""

    model: str  # the registered name
    timm_id: str | None  # None for a plugin's model
    num_classes: int
    img_size: int
    class_names: list[str] | None = None
    source: str = "timm"  # "timm", or the module that registered the model (imported again to rebuild it)
    edits: list[dict] = field(default_factory=list)  # structural edits (e.g. pruning) replayed on rebuild
    model_args: dict = field(default_factory=dict)  # the factory's keyword arguments (--model-arg)
    metrics: dict = field(default_factory=dict)
    format: str = FORMAT_TAG
    format_version: int = 1
    edgekit_version: str = __version__


def save_checkpoint(directory: Path, model: torch.nn.Module, description: ModelDescription) -> None:
    """Write model.safetensors and model.json into `directory`, each atomically (a full disk: one-line error)."""
    from safetensors.torch import save

    directory.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    ensure_free_space(directory, sum(t.numel() * t.element_size() for t in state.values()),
                      f"the checkpoint ({WEIGHTS_FILE})")
    state = {k: v.detach().contiguous().clone() for k, v in state.items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, save(state))
    atomic_write_json(directory / DESCRIPTION_FILE, asdict(description))


def is_checkpoint(path: Path) -> bool:
    path = Path(path)
    return (path / DESCRIPTION_FILE).is_file() or (path.name == DESCRIPTION_FILE and path.is_file())


def read_description(path: Path) -> tuple[ModelDescription, Path]:
    """Parse model.json in `path` (a checkpoint directory or the JSON itself)."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    try:
        raw = json.loads((directory / DESCRIPTION_FILE).read_text())
        if raw.get("format") != FORMAT_TAG:
            raise ValueError(f"format is {raw.get('format')!r}, not {FORMAT_TAG!r}")
        description = ModelDescription(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise EdgekitError(f"'{directory}' is not an edgekit checkpoint ({exc})") from exc
    return description, directory


def model_spec(description: ModelDescription, where: str) -> "ModelSpec":
    """The registered model a description names; a plugin's module is imported first when nothing registered it
    yet (no entry point, no --model-module), so a checkpoint of a plugin model rebuilds wherever that imports."""
    from edgekit.models.plugins import ensure_registered
    from edgekit.models.zoo import resolve

    ensure_registered(description.model, description.source, where)
    spec = resolve(description.model)
    return spec.with_args(description.model_args) if description.model_args else spec


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, ModelDescription]:
    """Rebuild the model described in model.json and load its weights, checking every shape."""
    from edgekit.models.build import create
    from edgekit.models.weights import apply_state_dict, read_state_dict

    description, directory = read_description(path)
    spec = model_spec(description, f"checkpoint '{directory}'")
    model = create(spec, description.num_classes, description.img_size)
    for edit in description.edits:
        replay_edit(model, edit, directory)
    state = read_state_dict(directory / WEIGHTS_FILE)
    reset = apply_state_dict(model, state, f"checkpoint '{directory}'")
    if reset:
        raise EdgekitError(f"checkpoint '{directory}': classifier shapes do not match model.json ({', '.join(reset)})")
    return model.eval(), description


def replay_edit(model: torch.nn.Module, edit: dict, directory: Path) -> None:
    """Re-apply one recorded structural edit (pruned widths, swapped attention) before the weights are loaded."""
    kind = edit.get("kind") if isinstance(edit, dict) else None
    if kind == "attention":  # the softmax attention swapped for Linformer/Performer (edgekit.models.attention)
        from edgekit.models.attention import replay_attention

        return replay_attention(model, edit)
    if kind != "prune":
        raise EdgekitError(f"'{directory}' records a structural edit ({kind!r}) this edgekit version cannot replay")
    from edgekit.models.structure import replay

    replay(model, edit.get("modules", {}))
