"""A user's own model, registered from a separate installed package, through the whole chain in every runtime."""

import json
import textwrap

from plugin_helpers import plugin_distribution, run
from tiny_data import TINY_CHAIN_FLAGS

USER_MODELS = textwrap.dedent('''\
    """A user's package: one decorated factory, found by edgekit through the `edgekit.models` entry point."""
    import torch
    from torch import nn

    import edgekit


    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


    @edgekit.register_model(family="usernet", img_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    def usernet_tiny(num_classes: int, img_size: int, **kwargs) -> nn.Module:
        return nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(32, num_classes))
''')


def test_a_plugin_package_model_is_pruned_quantized_exported_and_verified_everywhere(tmp_path):
    site = tmp_path / "site"
    plugin_distribution(site, "usernet", "usernet.models", USER_MODELS)
    out = tmp_path / "run"
    result = run(site, "compress", "usernet_tiny", *TINY_CHAIN_FLAGS, "--int8", "--formats", "onnx,tflite,pte",
                 "--qat-epochs", "0.25", "--calib-samples", "64", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "usernet_tiny" and report["timm_id"] is None and report["source"] == "usernet.models"
    names = [s["name"] for s in report["stages"]]
    assert names.index("teacher") < names.index("prune") < names.index("kd") < names.index("int8")
    assert report["ok"], [a.get("error") for a in report["artifacts"]]
    assert [a["format"] for a in report["artifacts"]] == ["onnx", "tflite", "pte"]
    for artifact, baseline in zip(report["artifacts"], report["baseline"]):
        assert artifact["precision"] == "int8" and artifact["parity"]["passed"], artifact
        assert artifact["status"] == "ok" and baseline["parity"]["passed"] and baseline["precision"] == "fp32"
        assert artifact["params"] < baseline["params"]  # pruned (the classifier kept: 10 logits below)
        assert artifact["accuracy"]["n"] == 64 and artifact["parity"]["top1_agreement"] == 1.0
    description = json.loads((out / "model" / "model.json").read_text())
    assert description["source"] == "usernet.models" and description["timm_id"] is None
    assert description["num_classes"] == 10 and description["edits"]  # the pruned widths, replayed on rebuild
    assert "model plugin `usernet.models`" in (out / "report.md").read_text()
