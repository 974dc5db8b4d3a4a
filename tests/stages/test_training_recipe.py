"""Family training recipes: every zoo model has one, unset options take it, flags and files win over it."""

import pytest

from edgekit.core.errors import EdgekitError
from edgekit.core.recipe import load_recipe
from edgekit.models.zoo import MODELS, resolve
from edgekit.stages.training_recipe import apply_training_recipe, recipe_for, summary, training_recipes


def applied(*args: str, **flags):
    recipe, _ = load_recipe(flags={"model": args[0], **flags})
    return apply_training_recipe(recipe, resolve(args[0]))


def test_every_zoo_model_has_a_training_recipe():
    missing = [name for name in MODELS.names() if recipe_for(MODELS.get(name)) is None]
    assert not missing


def test_unset_options_take_the_family_recipe_with_the_lr_scaled_by_the_batch():
    recipe, info = applied("effnet_lite0", **{"train.batch_size": 128})
    family = training_recipes().get("mobile-cnn").train
    assert info["name"] == "mobile-cnn" and recipe.train.optimizer == family["optimizer"] == "sgd"
    assert recipe.train.peak_lr() == pytest.approx(family["lr_base"] * 128 / 256)
    assert info["applied"]["weight_decay"] == recipe.train.weight_decay == family["weight_decay"]
    assert "train.optimizer" not in recipe.set_paths()  # the family's values are defaults, not the user's
    assert "set by you" not in summary(info, recipe.train)


def test_flags_override_the_family_recipe_and_are_reported():
    recipe, info = applied("deit_tiny", **{"train.optimizer": "sgd", "train.lr": 0.01})
    assert recipe.train.optimizer == "sgd" and recipe.train.peak_lr() == 0.01
    assert recipe.train.weight_decay == training_recipes().get("vit").train["weight_decay"]
    assert info["overridden"] == ["optimizer"] and "optimizer" not in info["applied"]
    assert "set by you: optimizer" in summary(info, recipe.train)


def test_fine_tuning_from_weights_adds_the_recipes_finetune_part(tmp_path):
    recipe, info = applied("deit_tiny", **{"teacher.pretrained": True})
    assert info["fine_tuning"] and recipe.train.layer_decay == training_recipes().get("vit").finetune["layer_decay"]
    scratch, _ = applied("deit_tiny")
    assert scratch.train.layer_decay is None


def test_train_recipe_none_keeps_the_plain_defaults_and_a_name_picks_another_recipe():
    plain, info = applied("effnet_lite0", **{"train.recipe": "none"})
    assert info["name"] == "none" and plain.train.optimizer == "adamw"
    other, info = applied("effnet_lite0", **{"train.recipe": "vit"})
    assert info["name"] == "vit" and other.train.optimizer == "adamw" and other.train.drop_path > 0


def test_unknown_train_recipe_is_one_line():
    with pytest.raises(EdgekitError, match="training recipe 'vti'.*vit"):
        applied("effnet_lite0", **{"train.recipe": "vti"})


def test_recovery_trains_at_the_training_lr_unless_given_its_own():
    from edgekit.stages.recover import peak_lr

    recipe, _ = applied("effnet_lite0", **{"prune.ratio": 0.3})
    assert recipe.recover.lr_base is None and peak_lr(recipe) == recipe.train.peak_lr()
    own, _ = applied("effnet_lite0", **{"prune.ratio": 0.3, "recover.lr_base": 0.1})
    assert peak_lr(own) == pytest.approx(0.1 * own.train.batch_size / 256)
    explicit, _ = applied("effnet_lite0", **{"prune.ratio": 0.3, "recover.lr_base": 0.1, "train.lr": 0.3})
    assert peak_lr(explicit) == 0.3  # an explicit --lr is the lr of every stage


def test_the_dataset_brings_its_augmentation_defaults_under_the_family_recipe(tmp_path):
    recipe, info = applied("resnet18", **{"data.source": "fashion-mnist"})
    assert recipe.train.crop == "none" and info["data"] == {"crop": "none"} and info["applied"]["crop"] == "none"
    assert "train.crop" not in recipe.set_paths() and "from the data: crop" in summary(info, recipe.train)
    given, info = applied("resnet18", **{"data.source": "fashion-mnist", "train.crop": "pad"})
    assert given.train.crop == "pad" and info["overridden"] == ["crop"] and not info["data"]
    plain, _ = applied("resnet18", **{"data.source": "fashion-mnist", "train.recipe": "none"})
    assert plain.train.crop == "pad"
    (tmp_path / "a").mkdir()
    folder, info = applied("resnet18", **{"data.source": str(tmp_path)})
    assert folder.train.crop == "pad" and not info["data"]


def test_a_recipe_with_a_base_sets_its_own_values_over_the_bases():
    recipes = training_recipes()
    t2t, vit = recipes.get("t2t-vit"), recipes.get("vit")
    assert t2t.train == {**vit.train, "batch_size": 32, "drop_path": 0.0} and t2t.finetune == vit.finetune
    assert recipes.get("dyconv-mbv3").train == {**recipes.get("mobile-cnn").train, "precise_bn": 2048}
