"""The prune stage in the chain: metrics, the teacher left intact, fine-tuning between steps, validation, CLI."""

from __future__ import annotations

import json

import pytest
import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.recipe import Recipe
from edgekit.data import load_data
from edgekit.models.build import create, preprocessing
from edgekit.models.checkpoint import ModelDescription
from edgekit.models.zoo import resolve
from edgekit.pipeline import validate
from edgekit.stages import prune as stage
from edgekit.stages.chain import ChainState


def chain_state(name="test_effnet", px=64):
    torch.manual_seed(0)
    spec = resolve(name)
    model = create(spec, 10, px)
    description = ModelDescription(model=name, timm_id=spec.timm_id, num_classes=10, img_size=px)
    return ChainState(model, description, model), load_data("synthetic", px, preprocessing(model), None, 0)


def test_stage_prunes_a_copy_and_records_widths_and_metrics(monkeypatch):
    monkeypatch.setattr(stage.latency, "measure", lambda models, *a, **k: {k_: {"p50": 2.0 if k_ == "before" else 1.0}
                                                                          for k_ in models})
    state, data = chain_state()
    teacher_params = sum(p.numel() for p in state.teacher.parameters())
    metrics = stage.run_prune(state, Recipe(model="test_effnet", prune=0.3, kd=False, epochs=0), data)
    assert state.model is not state.teacher
    assert sum(p.numel() for p in state.teacher.parameters()) == teacher_params == metrics["params_before"]
    assert metrics["params_after"] < metrics["params_before"] and metrics["macs_ratio"] < 0.6
    assert metrics["widths"] and all(w["after"] % 8 == 0 for w in metrics["widths"] if w["after"] != w["before"])
    assert metrics["latency"]["speedup"] == 2.0 and "warning" not in metrics["latency"]
    assert [e["kind"] for e in state.description.edits] == ["prune"] and state.teacher is not None
    json.dumps(state.description.edits)  # JSON-able


def test_latency_gain_far_below_mac_gain_warns(monkeypatch):
    monkeypatch.setattr(stage.latency, "measure", lambda models, *a, **k: {k_: {"p50": 1.0} for k_ in models})
    record = stage._latency(None, None, 64, mac_gain=2.0)
    assert record["warning"] == "latency gain far below MAC gain" and record["speedup"] == 1.0


def test_fine_tuning_between_steps_and_taylor_gradients(monkeypatch):
    monkeypatch.setattr(stage, "_latency", lambda *a: None)
    calls = []
    monkeypatch.setattr(stage, "_finetune", lambda model, recipe, data, step, steps: calls.append((step, steps)) or [])
    state, data = chain_state("test_resnet")
    images = data.val
    data.val = data.train = [(images[i][0], i % 10) for i in range(16)]  # labelled: Taylor and fine-tuning apply
    data.has_labels = True
    recipe = Recipe(model="test_resnet", prune=0.3, prune_steps=3, prune_criterion="taylor", epochs=2, kd=True)
    stage.run_prune(state, recipe, data)
    assert calls == [(0, 3), (1, 3)]  # KD fine-tunes after the last step
    calls.clear()
    state, data = chain_state("test_resnet")
    stage.run_prune(state, recipe.model_copy(update={"prune_steps": 2, "prune_criterion": "l2"}), data)
    assert calls == []  # synthetic data has no labels: nothing to fine-tune on


@pytest.mark.parametrize("overrides, fragment", [
    ({"prune": 0.3, "prune_criterion": "tailor"}, "did you mean 'taylor'"),
    ({"prune": 0.3, "prune_scope": "layer"}, "--prune-scope"),
    ({"prune": 0.3, "prune_target": "macs=0.5"}, "exclusive"),
    ({"prune_target": "latency=2"}, "fraction must be in (0, 1)"),
    ({"prune": 0.3, "prune_ratios": {"layer5.*": 0.5}}, "did you mean"),
    ({"prune": 0.3, "prune_ratios": {"layer4.*": 0.99}}, "outside [0, 0.95]"),
    ({"prune_ignore": ["fc"]}, "need --prune"),
])
def test_bad_prune_options_fail_before_any_work(tmp_path, overrides, fragment):
    recipe = Recipe(model="test_resnet", data="synthetic", img_size=64, out=tmp_path / "run", **overrides)
    with pytest.raises(EdgekitError) as err:
        validate(recipe)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_compress_prune_end_to_end_in_all_formats_and_reload(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("compress", "test_vit", "--prune", "0.3", "--no-int8", "--no-kd", "--epochs", "0", "--data",
                 "synthetic", "--img-size", "64", "--formats", "onnx,tflite,pte", "--runs", "5", "--out", str(out),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    prune_stage = next(s for s in report["stages"] if s["name"] == "prune")["metrics"]
    assert prune_stage["macs_ratio"] <= 0.6 and prune_stage["latency"]["p50_after_ms"] > 0
    assert not report["baseline_is_artifacts"] and report["ok"]
    assert {a["format"] for a in report["artifacts"]} == {"onnx", "tflite", "pte"}
    for artifact, base in zip(report["artifacts"], report["baseline"]):
        assert artifact["parity"]["passed"] and artifact["params"] < base["params"]
    exported = cli("export", str(out / "model"), "--formats", "onnx", "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-2000:]
    again = json.loads((tmp_path / "again" / "report.json").read_text())["artifacts"][0]
    assert again["params"] == report["artifacts"][0]["params"] and again["parity"]["passed"]
