"""Training recipes per model family, as data (training_recipes/*.yaml): the defaults a plain `compress MODEL
--data D` trains with.

Precedence: the options' own defaults < the dataset's augmentation defaults (edgekit.data.sources) < the family's
recipe (< its `finetune` part when the teacher starts from weights) < the recipe file < --set < flags.
`--train-recipe NAME` picks another recipe, `none` the plain defaults (no dataset or family values).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgekit.core.errors import EdgekitError
from edgekit.core.options import TrainOptions
from edgekit.core.recipe import Recipe, describe_validation_error
from edgekit.core.registry import Registry
from edgekit.data.sources import training_defaults
from edgekit.models.checkpoint import is_checkpoint
from edgekit.models.zoo import ModelSpec

RECIPE_KEYS = {"description", "base", "families", "models", "train", "finetune"}


@dataclass(frozen=True)
class TrainingRecipe:
    """One family recipe: the train-section values it sets, and those it sets on top when fine-tuning."""

    name: str
    description: str
    families: tuple[str, ...]
    models: tuple[str, ...] = ()
    train: dict[str, Any] = field(default_factory=dict)
    finetune: dict[str, Any] = field(default_factory=dict)

    def values(self, fine_tuning: bool) -> dict[str, Any]:
        return {**self.train, **(self.finetune if fine_tuning else {})}


@functools.cache
def training_recipes() -> Registry[TrainingRecipe]:
    """Every recipe shipped in edgekit/stages/training_recipes, checked against the train options. A recipe with
    `base: NAME` starts from that recipe's `train` and `finetune` values and sets its own over them."""
    from edgekit.core.io import read_yaml

    folder = resources.files("edgekit.stages") / "training_recipes"
    raws: dict[str, dict] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml"):
            continue
        with resources.as_file(item) as path:
            raw = read_yaml(path, f"training recipe '{item.name}'")
        unknown = set(raw) - RECIPE_KEYS
        if unknown:
            raise EdgekitError(f"training recipe '{item.name}': unknown key '{sorted(unknown)[0]}'")
        raws[item.name.removesuffix(".yaml")] = raw
    registry: Registry[TrainingRecipe] = Registry("training recipe")
    for name, raw in raws.items():
        base = raws.get(raw["base"]) if "base" in raw else {}
        if base is None or "base" in base:
            raise EdgekitError(f"training recipe '{name}.yaml': base '{raw['base']}' is not a recipe without a base")
        recipe = TrainingRecipe(name, raw.get("description", ""), tuple(raw.get("families", ())),
                                tuple(raw.get("models", ())), {**(base.get("train") or {}), **(raw.get("train") or {})},
                                {**(base.get("finetune") or {}), **(raw.get("finetune") or {})})
        for part in (recipe.train, recipe.values(True)):
            _validated(part, f"training recipe '{name}.yaml'")
        registry.add(name, recipe)
    return registry


def recipe_for(spec: ModelSpec) -> TrainingRecipe | None:
    """The recipe naming this model, else the one naming its family; None when no recipe covers it."""
    recipes = [training_recipes().get(name) for name in training_recipes().names()]
    return next((r for r in recipes if spec.name in r.models), None) or \
        next((r for r in recipes if spec.family in r.families), None)


def fine_tuning(recipe: Recipe) -> bool:
    """The model starts from trained weights: --pretrained, --weights or a checkpoint directory as MODEL (the
    recipe's `finetune` part applies)."""
    return recipe.teacher.pretrained or recipe.teacher.weights is not None or is_checkpoint(Path(recipe.model))


def apply_training_recipe(recipe: Recipe, spec: ModelSpec) -> tuple[Recipe, dict]:
    """`recipe` with its unset train options taken from the training recipe; and what was applied (for the plan
    and the report): the recipe's name, the values it supplied, and the options the user set over it."""
    choice, user = recipe.train.recipe, recipe.train.model_fields_set
    if choice == "none":
        return recipe, {"name": "none", "applied": {}, "overridden": sorted(user - {"recipe"})}
    chosen = recipe_for(spec) if choice == "auto" else training_recipes().get(choice)
    data = training_defaults(recipe.data.source)
    tuning = fine_tuning(recipe)
    family = chosen.values(tuning) if chosen is not None else {}
    supplied = {k: v for k, v in {**data, **family}.items() if k not in user}
    given = recipe.train.model_dump(include=user)
    source = f"training recipe '{chosen.name}'" if chosen is not None else f"data '{recipe.data.source}' defaults"
    values = _validated({**supplied, **given}, f"{source} with the given options")
    train = TrainOptions.model_construct(_fields_set=set(user), **dict(values))  # the user's fields stay "set"
    info = {"name": chosen.name if chosen is not None else "none",
            "description": chosen.description if chosen is not None else "", "fine_tuning": tuning,
            "applied": supplied, "data": {k: v for k, v in supplied.items() if k in data and k not in family},
            "overridden": sorted(k for k in user if k in family or k in data)}
    return recipe.model_copy(update={"train": train}), info


def _validated(values: dict[str, Any], source: str) -> TrainOptions:
    try:
        return TrainOptions.model_validate(values)
    except ValidationError as exc:
        raise EdgekitError(f"{source}: {describe_validation_error(exc).removeprefix('--')}") from exc


def summary(info: dict, train: TrainOptions) -> str:
    """One line for the plan: which recipe, and the settings it gives."""
    lr = f"lr {train.peak_lr():.4g}" + ("" if train.lr is not None else
                                        f" ({train.lr_base:g} x {train.batch_size}/256)")
    parts = [train.optimizer, lr, f"wd {train.weight_decay:g}", f"warm-up {train.warmup_fraction:.0%}",
             f"smoothing {train.label_smoothing:g}"]
    optional = {"ema": "EMA {}", "drop_path": "drop-path {}", "auto_augment": "{}", "re_prob": "erasing {}",
                "mixup": "mixup {}", "cutmix": "cutmix {}", "progressive": "progressive from {}x",
                "layer_decay": "layer decay {}", "accum_steps": "accumulate {}"}
    for key, text in optional.items():  # shown when on, i.e. not at the option's default
        value = getattr(train, key)
        if value != TrainOptions.model_fields[key].default:
            parts.append(text.format(value))
    if train.crop == "rrc":
        parts.append(f"rrc {train.crop_scale:g}-1")
    elif train.crop == "none":
        parts.append("no crop")
    if not train.flip:
        parts.append("no flip")
    name = info["name"]
    head = "plain defaults" if name == "none" else f"recipe '{name}'" + (" (fine-tuning)" if info.get("fine_tuning")
                                                                         else "")
    data = f"; from the data: {', '.join(info['data'])}" if info.get("data") else ""
    over = f"; set by you: {', '.join(info['overridden'])}" if info.get("overridden") else ""
    return f"training: {head}: {', '.join(parts)}{data}{over}"
