from pathlib import Path

import pytest

from edgekit.core.errors import EdgekitError
from edgekit.core.recipe import Recipe, check_writable_out, load_recipe


def test_flags_override_yaml(tmp_path):
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text("model: resnet18\nepochs: 5\nimg-size: 64\nformats: onnx,pte\n")
    recipe = load_recipe(recipe_file, {"epochs": 1, "seed": None})
    assert (recipe.model, recipe.epochs, recipe.img_size, recipe.formats) == ("resnet18", 1, 64, ["onnx", "pte"])
    assert recipe.seed == 0


def test_unknown_recipe_key_gets_did_you_mean(tmp_path):
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text("model: resnet18\nepoch: 5\n")
    with pytest.raises(EdgekitError, match="unknown key 'epoch'; did you mean 'epochs'"):
        load_recipe(recipe_file, {})


@pytest.mark.parametrize("overrides, flag", [({"epochs": -1}, "--epochs"), ({"prune": 1.5}, "--prune"),
                                             ({"lr": 0}, "--lr"), ({"subset": 0}, "--subset")])
def test_out_of_range_values_name_the_flag(overrides, flag):
    with pytest.raises(EdgekitError, match=flag):
        load_recipe(None, {"model": "resnet18", **overrides})


def test_default_run_dir_is_per_model():
    assert Recipe(model="timm:resnet10t").run_dir() == Path("runs/timm_resnet10t")


def test_existing_out_is_refused_unless_overwrite(tmp_path):
    with pytest.raises(EdgekitError, match="already exists"):
        check_writable_out(tmp_path, overwrite=False)
    check_writable_out(tmp_path, overwrite=True)


def test_out_below_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EdgekitError, match="not a directory"):
        check_writable_out(blocker / "run", overwrite=False)
