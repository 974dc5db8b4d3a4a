"""Run one stage on its own: a setting from recipe flags, input outputs by stage name, a fresh work folder."""

from __future__ import annotations

from edgekit.core.recipe import load_recipe
from edgekit.pipeline.plan import resolve_setting
from edgekit.stages import STAGES
from edgekit.stages.base import Context, ModelArtifact, Node, Output, pick


def setting_for(tmp_path, model: str = "test_effnet", **flags):
    """The plan-time setting of `compress MODEL` with these (dotted or pre-nesting) flags."""
    recipe, _ = load_recipe(None, {"model": model, "out": tmp_path / "run", **flags})
    return resolve_setting(recipe)


def model_output(module, description, precision: str = "fp32") -> Output:
    return Output(model=ModelArtifact(description, precision, module=module))


def run_node(stage, setting, inputs: dict[str, tuple[str, Output]], data, tmp_path, target=None,
             role="artifact") -> Output:
    """`stage` applied to `inputs` ({name: (producing stage, its output)}) with the options it reads."""
    node = Node(stage.name, stage, {name: Node(name, STAGES.get(producer)) for name, (producer, _) in inputs.items()},
                target, role)
    node.options = pick(setting.recipe, stage.reads_for(setting, node))
    workdir = tmp_path / f"work-{stage.name}-{target or ''}"
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(setting, workdir, setting.recipe.run_dir(), lambda: data)
    output = stage.run(node, {name: out for name, (_, out) in inputs.items()}, ctx)
    output.folder = workdir
    return output
