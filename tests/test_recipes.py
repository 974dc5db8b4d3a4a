"""Every shipped recipe loads in the nested schema (no pre-nesting keys) and plans without error."""

from pathlib import Path

import pytest

from edgekit.core.recipe import load_recipe
from edgekit.pipeline.plan import make_plan

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 2


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_plans(path, tmp_path):
    recipe, legacy = load_recipe(path, {"out": tmp_path / "run"})
    assert legacy == []  # shipped recipes use the nested spelling
    plan = make_plan(recipe)
    assert [n.stage.name for n in plan.chain][0] == "teacher"
    assert {n.target for n in plan.nodes if n.stage.name == "export"} == set(recipe.export.formats)
    assert all(len(n.key) == 64 for n in plan.nodes)
