"""Sensitivity analysis: per-group cost at each ratio, the model restored after every trial, table + plot."""

from __future__ import annotations

import json

import torch
from prune_helpers import build

from edgekit.pruning.sensitivity import analyze


def test_sensitivity_measures_each_group_and_restores_the_model():
    model = build("test_vit", 64)
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(x)
    result = analyze(model, x, None, [0.3, 0.6])
    with torch.no_grad():
        assert torch.equal(model(x), before)
    assert result["metric"] == "output_distortion" and result["groups"]
    costs = [g["cost"]["0.6"] for g in result["groups"] if g["cost"]["0.6"] is not None]
    assert costs and all(c >= 0 for c in costs) and max(costs) > 0
    labelled = analyze(build("test_resnet", 64), x, torch.zeros(8, dtype=torch.long), [0.5])
    assert labelled["metric"] == "top1_drop_points"


def test_analyze_cli_writes_table_json_and_plot(cli, tmp_path):
    result = cli("analyze", "test_resnet", "--sensitivity", "--img-size", "32", "--ratios", "0.5", "--samples", "8",
                 "--out", str(tmp_path / "a"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "a" / "sensitivity.json").read_text())
    assert data["model"] == "test_resnet" and data["groups"]
    assert (tmp_path / "a" / "sensitivity.png").stat().st_size > 0
    assert data["groups"][0]["group"] in result.stderr
    bad = cli("analyze", "test_resnet", "--sensitivity", "--ratios", "0.5,2", cwd=tmp_path)
    assert bad.returncode == 2 and "--ratios" in bad.stderr
