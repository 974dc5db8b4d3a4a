"""Every shipped recipe loads and validates against the current Recipe schema."""

from pathlib import Path

import pytest

from edgekit.core.recipe import load_recipe
from edgekit.pipeline import validate

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 2


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_is_valid(path, tmp_path):
    recipe = load_recipe(path, {"out": tmp_path / "run"})
    plan = validate(recipe)
    assert plan.formats and plan.img_size > 0
