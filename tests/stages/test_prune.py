"""The prune stage in the chain: metrics, the teacher left intact, fine-tuning between steps, validation, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from stage_helpers import model_output, run_node, setting_for

from edgekit.core.errors import EdgekitError
from edgekit.core.recipe import load_recipe
from edgekit.data import load_data
from edgekit.models.build import create, preprocessing
from edgekit.models.checkpoint import ModelDescription
from edgekit.models.zoo import resolve
from edgekit.pipeline.plan import make_plan
from edgekit.stages import Prune
from edgekit.stages import prune as stage


def teacher(name="test_effnet", px=64):
    torch.manual_seed(0)
    spec = resolve(name)
    model = create(spec, 10, px)
    description = ModelDescription(model=name, timm_id=spec.timm_id, num_classes=10, img_size=px)
    return model_output(model, description), load_data("synthetic", px, preprocessing(model), None, 0)


def test_stage_prunes_a_copy_and_records_widths_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr(stage.latency, "measure", lambda models, *a, **k: {k_: {"p50": 2.0 if k_ == "before" else 1.0}
                                                                          for k_ in models})
    source, data = teacher()
    teacher_params = sum(p.numel() for p in source.model.module.parameters())
    setting = setting_for(tmp_path, data="synthetic", img_size=64, prune=0.3, epochs=0)
    pruned = run_node(Prune(), setting, {"model": ("teacher", source)}, data, tmp_path)
    metrics = pruned.metrics
    assert pruned.model.module is not source.model.module
    assert sum(p.numel() for p in source.model.module.parameters()) == teacher_params == metrics["params_before"]
    assert metrics["params_after"] < metrics["params_before"] and metrics["macs_ratio"] < 0.6
    assert metrics["widths"] and all(w["after"] % 8 == 0 for w in metrics["widths"] if w["after"] != w["before"])
    assert metrics["latency"]["speedup"] == 2.0 and "warning" not in metrics["latency"]
    assert [e["kind"] for e in pruned.model.description.edits] == ["prune"] and not source.model.description.edits
    json.dumps(pruned.model.description.edits)  # JSON-able


def test_latency_gain_far_below_mac_gain_warns(monkeypatch):
    monkeypatch.setattr(stage.latency, "measure", lambda models, *a, **k: {k_: {"p50": 1.0} for k_ in models})
    record = stage._latency(None, None, 64, mac_gain=2.0)
    assert record["warning"] == "latency gain far below MAC gain" and record["speedup"] == 1.0


def test_fine_tuning_between_steps_and_taylor_gradients(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "_latency", lambda *a: None)
    calls = []
    monkeypatch.setattr(stage, "_finetune", lambda model, options, data, step, steps, name: calls.append(
        (step, steps)) or [])
    source, data = teacher("test_resnet")
    images = data.val
    data.val = data.train = [(images[i][0], i % 10) for i in range(16)]  # labelled: Taylor and fine-tuning apply
    data.has_labels = True
    setting = setting_for(tmp_path, "test_resnet", data="fashion-mnist", img_size=64, prune=0.3, prune_steps=3,
                          prune_criterion="taylor", epochs=2)
    run_node(Prune(), setting, {"model": ("teacher", source)}, data, tmp_path)
    assert calls == [(0, 3), (1, 3)]  # KD fine-tunes after the last step
    calls.clear()
    unlabelled = setting_for(tmp_path, "test_resnet", data="synthetic", img_size=64, prune=0.3, prune_steps=2)
    run_node(Prune(), unlabelled, {"model": ("teacher", teacher("test_resnet")[0])}, data, tmp_path)
    assert calls == []  # synthetic data has no labels: nothing to fine-tune on


@pytest.mark.parametrize("overrides, fragment", [
    ({"prune": 0.3, "prune_criterion": "tailor"}, "did you mean 'taylor'"),
    ({"prune": 0.3, "prune_scope": "layer"}, "--prune-scope"),
    ({"prune": 0.3, "prune_target": "macs=0.5"}, "exclusive"),
    ({"prune_target": "latency=2"}, "fraction must be in (0, 1)"),
    ({"prune": 0.3, "prune_ratios": {"layer5.*": 0.5}}, "did you mean"),
    ({"prune": 0.3, "prune_ratios": {"layer4.*": 0.99}}, "outside [0, 0.95]"),
    ({"prune_ignore": ["fc"]}, "--prune-ignore: this option sets the prune stage, which is not in this plan"),
])
def test_bad_prune_options_fail_before_any_work(tmp_path, overrides, fragment):
    with pytest.raises(EdgekitError) as err:
        make_plan(load_recipe(None, dict(model="test_resnet", data="synthetic", img_size=64, out=tmp_path / "run",
                                         **overrides))[0])
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_compress_prune_end_to_end_and_reload(cli, tmp_path):
    """ONNX and TFLite: a pruned model's .pte costs a minute here and is covered by the QAT chain
    (tests/stages/test_quantize.py), the plugin and family tests (tests/models)."""
    out = tmp_path / "run"
    result = cli("compress", "test_vit", "--prune", "0.3", "--no-int8", "--no-kd", "--epochs", "0", "--data",
                 "synthetic", "--img-size", "64", "--formats", "onnx,tflite", "--no-bench", "--out", str(out),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    prune_stage = next(s for s in report["stages"] if s["name"] == "prune")["metrics"]
    assert prune_stage["macs_ratio"] <= 0.6 and prune_stage["latency"]["p50_after_ms"] > 0
    assert not report["baseline_is_artifacts"] and report["ok"]
    assert {a["format"] for a in report["artifacts"]} == {"onnx", "tflite"}
    for artifact, base in zip(report["artifacts"], report["baseline"]):
        assert artifact["parity"]["passed"] and artifact["params"] < base["params"]
    exported = cli("export", str(out / "model"), "--formats", "onnx", "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-2000:]
    again = json.loads((tmp_path / "again" / "report.json").read_text())["artifacts"][0]
    assert again["params"] == report["artifacts"][0]["params"] and again["parity"]["passed"]
