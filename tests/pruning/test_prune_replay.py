"""Pruned checkpoints: safetensors + JSON widths, rebuilt exactly (bit for bit), every shape checked."""

from __future__ import annotations

import json

import pytest
import torch
from prune_helpers import randomise_norms, same_outputs

from edgekit.core.errors import EdgekitError
from edgekit.models.build import create
from edgekit.models.checkpoint import ModelDescription, load_checkpoint, save_checkpoint
from edgekit.models.zoo import resolve
from edgekit.pruning import PruneConfig, prune

X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def pruned_checkpoint(tmp_path, name):
    torch.manual_seed(0)
    spec = resolve(name)
    model = randomise_norms(create(spec, 10, 64))
    changes, _, _ = prune(model, PruneConfig(0.3), X[:1])
    description = ModelDescription(model=name, timm_id=spec.timm_id, num_classes=10, img_size=64,
                                   edits=[{"kind": "prune", "modules": changes}])
    save_checkpoint(tmp_path / "model", model, description)
    return model, tmp_path / "model"


@pytest.mark.parametrize("name", ["test_vit", "test_convnext", "test_effnet"])
def test_reload_reproduces_outputs_bit_for_bit(tmp_path, name):
    model, directory = pruned_checkpoint(tmp_path, name)
    reloaded, description = load_checkpoint(directory)
    assert description.edits[0]["kind"] == "prune"
    assert same_outputs(model, reloaded, X)
    assert json.loads((directory / "model.json").read_text())["edits"][0]["modules"]  # plain JSON, no pickle


def test_tampered_widths_and_unknown_edits_are_refused(tmp_path):
    _, directory = pruned_checkpoint(tmp_path, "test_resnet")
    raw = json.loads((directory / "model.json").read_text())
    name, change = next((n, c) for n, c in raw["edits"][0]["modules"].items() if "weight" in c["tensors"])
    change["tensors"]["weight"][0] += 8
    (directory / "model.json").write_text(json.dumps(raw))
    with pytest.raises(EdgekitError, match="shape mismatch"):
        load_checkpoint(directory)
    raw["edits"] = [{"kind": "fold-bn"}]
    (directory / "model.json").write_text(json.dumps(raw))
    with pytest.raises(EdgekitError, match="cannot replay"):
        load_checkpoint(directory)
    raw["edits"] = [{"kind": "prune", "modules": {"no.such.layer": {"attrs": {}, "tensors": {}}}}]
    (directory / "model.json").write_text(json.dumps(raw))
    with pytest.raises(EdgekitError, match="no.such.layer"):
        load_checkpoint(directory)
