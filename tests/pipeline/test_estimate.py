"""Time estimates: a measured probe of this machine, scaled by each step's work, and the long-plan line."""

from types import SimpleNamespace

from edgekit.core.recipe import load_recipe
from edgekit.pipeline.display import duration, long_plan_line
from edgekit.pipeline.estimate import History, Probe
from edgekit.pipeline.plan import make_plan


def plan(tmp_path, **flags):
    return make_plan(load_recipe(None, {"model": "test_resnet", "data": "fashion-mnist", "img_size": 32,
                                        "formats": "onnx", "out": tmp_path / "run", **flags})[0])


def test_the_probe_measures_once_and_scales_with_the_work(tmp_path):
    probe = Probe(plan(tmp_path).setting)
    speeds = probe.speeds()
    assert 0 < speeds["infer"] and 0 < speeds["train"] and speeds["params"] > 0
    one = probe.training_seconds(1, 1000, 0, None)
    assert abs(probe.training_seconds(3, 1000, 0, None) - 3 * one) < 1e-9
    assert abs(probe.training_seconds(1, 2000, 0, None) - 2 * one) < 1e-9
    assert probe.training_seconds(1, 1000, 0, None, teacher_forward=True) > one
    assert Probe(probe.setting).history.probes == probe.history.probes  # remembered beside the cache
    big = Probe(plan(tmp_path, img_size=64).setting)  # at 32 px every stage is the smallest size, 32 px
    assert big.training_seconds(4, 1000, 0, None, progressive=0.5) < big.training_seconds(4, 1000, 0, None)


def test_export_estimates_come_from_history_once_there_is_one(tmp_path):
    setting = plan(tmp_path).setting
    history = History()
    node = SimpleNamespace(stage=SimpleNamespace(name="export"), target="onnx", inputs={})
    history.record(node, setting, 7.5)
    history.save()
    assert Probe(setting).export_seconds("onnx") == 7.5
    assert Probe(setting).export_seconds("pte") > 0  # no history: a first-export figure


def test_a_long_plan_names_the_cheaper_alternatives(tmp_path):
    chain = plan(tmp_path, img_size=224, prune=0.3)
    seconds = {node.id: (3600.0 if node.stage.name in ("teacher", "kd") else 10.0) for node in chain.nodes}
    line = long_plan_line(chain, seconds)
    assert line.startswith("this plan is long: ≈ 2 h") and "--img-size 64 (≈" in line
    assert "--subset 5000" in line and "--epochs 1" in line and "--weights PATH" in line
    assert long_plan_line(chain, {node.id: 1.0 for node in chain.nodes}) is None


def test_durations_read_like_a_person_would_say_them():
    assert [duration(s) for s in (None, 12, 90, 3600 * 3 + 60 * 20)] == ["?", "12 s", "2 min", "3 h 20 min"]
