"""The nested recipe: YAML sections, pre-nesting keys, --set, flags, and one clear line for every mistake."""

from pathlib import Path

import pytest

from edgekit.core.errors import EdgekitError
from edgekit.core.options import SECTIONS
from edgekit.core.recipe import (
    DOTTED_PATHS,
    FLAT_KEYS,
    Recipe,
    check_writable_out,
    flag_for,
    load_recipe,
)


def recipe_file(tmp_path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_nested_yaml_then_set_then_flags(tmp_path):
    path = recipe_file(tmp_path, "model: resnet18\ntrain:\n  epochs: 5\n  lr: 0.1\ndata:\n  img_size: 64\n"
                                 "export:\n  formats: [onnx, pte]\n")
    recipe, legacy = load_recipe(path, {"train.epochs": 1, "seed": None}, ["train.lr=0.02", "prune.steps=3"])
    assert (recipe.model, recipe.train.epochs, recipe.train.lr, recipe.data.img_size) == ("resnet18", 1, 0.02, 64)
    assert recipe.export.formats == ["onnx", "pte"] and recipe.prune.steps == 3 and recipe.seed == 0
    assert legacy == []


def test_pre_nesting_keys_still_load_and_are_named(tmp_path):
    path = recipe_file(tmp_path, "model: resnet18\nepochs: 5\nimg-size: 64\nprune: 0.3\nprune_criterion: taylor\n"
                                 "kd: true\nformats: onnx,pte\nbudget: b.yaml\n")
    recipe, legacy = load_recipe(path, {})
    assert (recipe.train.epochs, recipe.data.img_size, recipe.prune.ratio, recipe.prune.criterion) == (5, 64, 0.3,
                                                                                                        "taylor")
    assert recipe.recover.kd is True and recipe.export.formats == ["onnx", "pte"]
    assert recipe.budget.file == Path("b.yaml")
    assert "epochs -> train.epochs" in legacy and "prune_criterion -> prune.criterion" in legacy


def test_every_flat_key_maps_to_one_field():
    assert len(FLAT_KEYS) == sum(len(m.model_fields) for m in SECTIONS.values())  # no two fields share a flag
    for flat, (section, field) in FLAT_KEYS.items():
        assert flag_for(f"{section}.{field}") == "--" + flat.replace("_", "-")


@pytest.mark.parametrize("text, fragment", [
    ("model: resnet18\nepoch: 5\n", "unknown key 'epoch'; did you mean 'epochs'"),
    ("model: resnet18\nprune:\n  epochs: 3\n", "'epochs' belongs in section 'train' (train.epochs)"),
    ("model: resnet18\ntrain:\n  epochz: 3\n", "unknown key 'train.epochz'; did you mean 'train.epochs'"),
    ("model: resnet18\nepochs: 3\ntrain:\n  epochs: 4\n", "train.epochs is given twice"),
    ("model: resnet18\ntrain:\n  epochs: lots\n", "--epochs: Input should be a valid integer"),
    ("- just\n- a list\n", "must be a mapping"),
    ("model: [unclosed\n", "is not valid YAML"),
])
def test_recipe_mistakes_are_one_line(tmp_path, text, fragment):
    with pytest.raises(EdgekitError, match=None) as caught:
        load_recipe(recipe_file(tmp_path, text), {})
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("assignment, fragment", [
    ("prune.stepz=3", "unknown key 'prune.stepz'; did you mean 'prune.steps'"),
    ("prune.epochs=3", "belongs in section 'train'"),
    ("train.lr=fast", "--lr: Input should be a valid number"),
    ("prune.criterion=l3", "--prune-criterion: 'l3' is not one of l2, taylor, bn-scale, lamp, random; did you mean"),
    ("steps", "must be KEY=VALUE"),
])
def test_set_mistakes_are_one_line(assignment, fragment):
    with pytest.raises(EdgekitError) as caught:
        load_recipe(None, {"model": "resnet18"}, [assignment])
    assert fragment in str(caught.value)


def test_set_reaches_fields_without_a_flag():
    recipe, _ = load_recipe(None, {"model": "resnet18", "prune.ratio": 0.3}, ["prune.ratios={'layer4.*': 0.5}"])
    assert recipe.prune.ratios == {"layer4.*": 0.5}


@pytest.mark.parametrize("flags, fragment", [
    ({"train.epochs": -1}, "--epochs"), ({"prune.ratio": 1.5}, "--prune"), ({"train.lr": 0}, "--lr"),
    ({"data.subset": 0}, "--subset"),
    ({"recover.kd": True}, "--kd distils a compressed student"),
    ({"data.source": "synthetic", "prune.ratio": 0.3, "recover.kd": True}, "--kd needs labelled --data"),
    ({"prune.ratio": 0.3, "prune.target": "macs=0.5"}, "exclusive"),
    ({"prune.target": "flops=0.5"}, "must be macs=F or latency=F"),
    ({"teacher.weights": "w.safetensors", "teacher.pretrained": True}, "exclusive"),
    ({"export.tflite_io": "float"}, "--tflite-io"),
    ({"export.onnx_int8_weights": "uint8"}, "--onnx-int8-weights sets how an int8 .onnx"),
    ({"export.onnx_int8_weights": "int8", "int8.enabled": True, "export.formats": "tflite"}, "add onnx"),
    ({"export.formats": "onnx,coreml"}, "unknown format 'coreml'"),
])
def test_bad_values_name_the_flag(flags, fragment):
    with pytest.raises(EdgekitError) as caught:
        load_recipe(None, {"model": "resnet18", **flags})
    assert fragment in str(caught.value)


def test_aliases_become_canonical_names():
    recipe, _ = load_recipe(None, {"model": "x", "prune_criterion": "magnitude", "quant_backend": "torchao",
                                   "formats": "litert,onnx,onnx"})
    assert (recipe.prune.criterion, recipe.int8.backend, recipe.export.formats) == ("l2", "pt2e", ["tflite", "onnx"])


def test_set_paths_are_what_the_user_gave():
    recipe, _ = load_recipe(None, {"model": "x", "prune.ratio": 0.3}, ["bench.runs=9"])
    assert recipe.set_paths() == ["bench.runs", "model", "prune.ratio"]
    assert all(path in DOTTED_PATHS for path in recipe.set_paths())


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
