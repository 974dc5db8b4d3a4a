import pickle

import pytest
import torch
from safetensors.torch import save_file

from edgekit.core.errors import EdgekitError
from edgekit.models import resolve
from edgekit.models.build import create
from edgekit.models.checkpoint import ModelDescription, load_checkpoint, save_checkpoint
from edgekit.models.weights import apply_state_dict, read_state_dict


@pytest.fixture(scope="module")
def model():
    return create(resolve("test_resnet"), num_classes=5, img_size=32)


def test_safetensors_and_wrapped_pth_load(tmp_path, model):
    state = model.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        loaded = read_state_dict(tmp_path / name)
        assert set(loaded) == set(state)


class Payload:  # a pickled object that weights_only must refuse
    def __reduce__(self):
        return (print, ("unsafe code ran",))


def test_pickle_with_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump({"w": Payload()}, handle)
    with pytest.raises(EdgekitError, match="never unpickles"):
        read_state_dict(path)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(EdgekitError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(EdgekitError, match="not a valid safetensors"):
        read_state_dict(bad)


def test_shape_mismatch_names_the_tensors(model):
    state = dict(model.state_dict())
    key = "conv1.weight" if "conv1.weight" in state else next(k for k in state if k.endswith("weight"))
    state[key] = torch.zeros(3, 3)
    with pytest.raises(EdgekitError, match=f"shape mismatch: {key}"):
        apply_state_dict(model, state, "test")


def test_a_head_for_other_classes_is_reinitialised(model):
    other = create(resolve("test_resnet"), num_classes=9, img_size=32)
    reset = apply_state_dict(model, other.state_dict(), "test")
    assert reset and all("fc" in k or "head" in k or "classifier" in k for k in reset)


def test_checkpoint_round_trip_is_bit_exact(tmp_path, model):
    description = ModelDescription(model="test_resnet", timm_id="test_resnet", num_classes=5, img_size=32)
    save_checkpoint(tmp_path / "ckpt", model, description)
    rebuilt, loaded = load_checkpoint(tmp_path / "ckpt")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))
    assert loaded.num_classes == 5
