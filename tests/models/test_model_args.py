"""--model-arg KEY=VALUE: keyword arguments of a model's factory (a plugin's, or timm.create_model), kept in
model.json and keying the teacher."""

import pytest

from edgekit.cli.run import model_arg_assignment
from edgekit.core.errors import EdgekitError
from edgekit.core.recipe import load_recipe
from edgekit.models.build import create
from edgekit.models.checkpoint import ModelDescription, load_checkpoint, save_checkpoint
from edgekit.models.zoo import resolve
from edgekit.pipeline.plan import make_plan


def test_a_plugin_factory_gets_its_arguments():
    model = create(resolve("test_skipnet").with_args({"threshold": 0.3, "gate_cost": 0.0}), 10, 64)
    assert {b.threshold for b in model.gated_blocks()} == {0.3} and model.gate_cost == 0.0
    dynamic = create(resolve("test_dynamicconv").with_args({"num_kernels": 2}), 10, 64)
    assert {m.num_kernels for m in dynamic.modules() if hasattr(m, "num_kernels")} == {2}


def test_a_timm_model_gets_its_arguments():
    assert create(resolve("test_effnet").with_args({"drop_rate": 0.25}), 10, 64).drop_rate == 0.25


@pytest.mark.parametrize("model,args,fragment", [
    ("test_skipnet", {"kernels": 4}, "test_skipnet's factory edgekit.models.families.skipnet:test_skipnet takes no "
                                     "such argument (it takes: drop_path_rate, threshold, gate_cost)"),
    ("test_skipnet", {"threshold": 1.5}, "threshold must lie in (0, 1), got 1.5"),
    ("test_effnet", {"no_such_option": 1}, "--model-arg no_such_option: timm's test_efficientnet rejected them"),
])
def test_arguments_a_model_refuses_are_one_line(model, args, fragment):
    with pytest.raises(EdgekitError) as caught:
        create(resolve(model).with_args(args), 10, 64)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_checkpoint_rebuilds_with_its_arguments(tmp_path):
    spec = resolve("test_skipnet").with_args({"threshold": 0.4})
    model = create(spec, 10, 64)
    description = ModelDescription(model=spec.name, timm_id=None, num_classes=10, img_size=64, source=spec.source,
                                   model_args=dict(spec.args))
    save_checkpoint(tmp_path / "ckpt", model, description)
    loaded, read = load_checkpoint(tmp_path / "ckpt")
    assert read.model_args == {"threshold": 0.4} and {b.threshold for b in loaded.gated_blocks()} == {0.4}


def recipe(tmp_path, assignments=(), **flags):
    values = {"model": "test_skipnet", "data": "fashion-mnist", "img_size": 64, "formats": "onnx",
              "out": tmp_path / "run", **flags}
    return load_recipe(None, values, list(assignments))[0]


def test_the_flag_and_set_reach_the_teacher_section_and_key_it(tmp_path):
    assert model_arg_assignment("threshold=0.4") == "teacher.model_args.threshold=0.4"
    both = recipe(tmp_path, [model_arg_assignment("threshold=0.4"), "teacher.model_args.gate_cost=0"])
    assert both.teacher.model_args == {"gate_cost": 0, "threshold": 0.4}
    keys = [{n.id: n.key for n in make_plan(r).nodes} for r in (recipe(tmp_path), both)]
    assert all(keys[0][i] != keys[1][i] for i in keys[0])  # the teacher's architecture changed: every node with it
    assert make_plan(both).setting.spec.args == (("gate_cost", 0), ("threshold", 0.4))


@pytest.mark.parametrize("assignment,fragment", [
    ("img_size=32", "--model-arg img_size: set it with --img-size"),
    ("threshold=[1, 2]", "--model-arg threshold: give a number, true/false or a string, not list"),
    ("kernels=4", "takes no such argument"),  # refused while planning, before any work
])
def test_bad_arguments_are_refused_up_front(tmp_path, assignment, fragment):
    with pytest.raises(EdgekitError) as caught:
        make_plan(recipe(tmp_path, [model_arg_assignment(assignment)]))
    assert fragment in str(caught.value)


def test_a_flag_without_a_value_is_one_line():
    with pytest.raises(EdgekitError, match="--model-arg 'threshold' must be KEY=VALUE"):
        model_arg_assignment("threshold")
