"""End-to-end runs of the real chain on tiny models (32–64 px)."""

import json

import numpy as np
import pytest

from edgekit.core.formats import FORMATS
from edgekit.core.recipe import load_recipe
from edgekit.pipeline import run

ALL_FORMATS = ",".join(FORMATS.names())


def compress(tmp_path, name="run", **overrides):
    values = dict(data="synthetic", img_size=64, epochs=0, formats=ALL_FORMATS, out=tmp_path / name,
                  parity_samples=4, eval_samples=64)
    if overrides.get("bench", True):
        values.update(runs=5, warmup=1)
    values.update(overrides)
    return run(load_recipe(None, values)[0])


# the export matrix: every format × a model of each tiny family (convnet with SE, ViT, ConvNeXt, ResNet)
@pytest.mark.parametrize("model, size", [("test_effnet", 64), ("test_vit", 64), ("test_convnext", 64),
                                         ("test_resnet", 32)])
def test_export_matrix(tmp_path, model, size):
    report, out = compress(tmp_path, model=model, img_size=size, bench=False)
    assert report["ok"], [a["error"] for a in report["artifacts"]]
    assert [a["format"] for a in report["artifacts"]] == FORMATS.names()
    for artifact in report["artifacts"]:
        assert (out / artifact["path"]).stat().st_size == artifact["size_bytes"] > 0
        assert artifact["parity"]["passed"] and artifact["parity"]["top1_agreement"] == 1.0
        assert artifact["parity"]["max_abs_diff"] < 1e-3
        assert artifact["op_counts"] and isinstance(artifact["fallback_ops"], list)
        assert artifact["accuracy"] is None  # synthetic data has no labels: never a made-up number


def test_report_contract_and_latency(tmp_path):
    report, out = compress(tmp_path, model="test_effnet")
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(report))
    for key in ("model", "edgekit_version", "env", "stages", "baseline", "artifacts"):
        assert key in saved
    assert {"cpu", "flags", "threads", "python", "torch"} <= set(saved["env"])
    names = [(s["name"], s.get("target")) for s in saved["stages"] if s["name"] != "data"]  # data loads lazily
    assert names == [("teacher", None), *[(n, f) for f in FORMATS.names() for n in ("export", "verify")],
                     *[("bench", f) for f in FORMATS.names()]]
    assert len(saved["baseline"]) == len(saved["artifacts"]) == 3
    for artifact in saved["artifacts"]:
        latency = artifact["latency_ms"]
        assert latency["p50"] <= latency["p90"] <= latency["p99"] and latency["runs"] == 5 and latency["threads"] == 1
        assert artifact["load_ms"] > 0 and len(artifact["sha256"]) == 64 and artifact["precision"] == "fp32"
    assert (out / "report.md").read_text().startswith("# edgekit report: test_effnet")
    assert (out / "latency.png").stat().st_size > 1000
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "model.json").is_file()


def test_real_data_trains_a_teacher_and_measures_accuracy(tmp_path):
    report, _ = compress(tmp_path, model="test_effnet", data="fashion-mnist", img_size=32, epochs=2, subset=1000,
                         eval_samples=500, formats="onnx", bench=False)
    teacher = next(s for s in report["stages"] if s["name"] == "teacher")
    assert teacher["metrics"]["trained"] and not teacher["cached"]
    torch_top1 = report["accuracy_pytorch"]["top1"]
    assert torch_top1 > 30  # 10 classes: chance is 10%
    onnx = report["artifacts"][0]["accuracy"]
    assert onnx["n"] == 500 and onnx["dataset"] == "fashion-mnist" and abs(onnx["top1"] - torch_top1) <= 0.5
    again, _ = compress(tmp_path, name="again", model="test_effnet", data="fashion-mnist", img_size=32, epochs=2,
                        subset=1000, eval_samples=500, formats="onnx", bench=False)
    assert all(s["cached"] for s in again["stages"] if s["name"] != "data")  # every stage from the cache
    assert again["accuracy_pytorch"] == report["accuracy_pytorch"]
    assert again["artifacts"][0]["sha256"] == report["artifacts"][0]["sha256"]


def test_rerun_refuses_then_overwrites(tmp_path):
    from edgekit.core.errors import EdgekitError

    _, out = compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False)
    with pytest.raises(EdgekitError, match="already exists"):
        compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False)
    report, _ = compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False, overwrite=True)
    assert report["ok"]


def test_failed_stage_leaves_the_earlier_run_intact(tmp_path, monkeypatch):
    _, out = compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("edgekit.pipeline.assemble.write_report", boom)
    with pytest.raises(RuntimeError):
        compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left behind


def test_a_file_that_fails_parity_is_reported_and_quarantined(tmp_path, monkeypatch):
    from edgekit.runtimes.onnxruntime import OrtSession

    original = OrtSession._run_batch
    monkeypatch.setattr(OrtSession, "_run_batch", lambda self, x: original(self, x) + np.float32(0.5))
    # an earlier test cached this file's verification: --refresh verify measures it again, in the broken runtime
    report, out = compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False, refresh="verify")
    artifact = report["artifacts"][0]
    assert not report["ok"] and artifact["status"] == "failed" and "parity" in artifact["error"]
    assert artifact["path"] == "failed/test_resnet.onnx" and (out / artifact["path"]).is_file()
    assert not (out / "test_resnet.onnx").exists()


def test_export_command_rebuilds_a_checkpoint(tmp_path, cli):
    _, out = compress(tmp_path, model="test_resnet", img_size=32, formats="onnx", bench=False)
    result = cli("export", str(out / "model"), "--formats", "onnx,pte", "--out", str(tmp_path / "exported"))
    assert result.returncode == 0, result.stderr
    exported = json.loads((tmp_path / "exported" / "report.json").read_text())
    assert exported["command"] == "export" and exported["ok"]
    assert [a["format"] for a in exported["artifacts"]] == ["onnx", "pte"]
    original = json.loads((out / "report.json").read_text())["artifacts"][0]
    assert exported["artifacts"][0]["params"] == original["params"]


def test_bench_compares_against_a_baseline(tmp_path, cli):
    _, out = compress(tmp_path, model="test_effnet", formats="onnx,tflite", bench=False)
    result = cli("bench", str(out / "test_effnet.tflite"), "--baseline", str(out / "test_effnet.onnx"),
                 "--runs", "20", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    comparison = payload["comparisons"][0]
    low, high = comparison["ratio_ci"]
    assert low <= comparison["ratio"] <= high and comparison["ratio"] > 0
    assert payload["results"][0]["latency_ms"]["runs"] == 20


def test_prune_then_distil_end_to_end(tmp_path):
    report, out = compress(tmp_path, model="test_effnet", data="fashion-mnist", img_size=32, subset=512, epochs=1,
                           prune=0.3, formats="onnx", eval_samples=256, runs=10)
    names = [s["name"] for s in report["stages"]]
    assert names.index("teacher") < names.index("prune") < names.index("kd") < names.index("export")
    assert not report["baseline_is_artifacts"] and report["ok"]
    artifact, baseline = report["artifacts"][0], report["baseline"][0]
    assert artifact["params"] < baseline["params"] and artifact["macs"] < 0.6 * baseline["macs"]
    assert baseline["path"] == "baseline/test_effnet.onnx" and (out / baseline["path"]).is_file()
    assert artifact["latency_ms"]["interleaved_with"] == baseline["path"]  # timed side by side
    assert baseline["latency_ms"]["runs"] == artifact["latency_ms"]["runs"] == 10
    assert report["baseline_accuracy_pytorch"]["top1"] == baseline["accuracy"]["top1"]
    assert "Uncompressed FP32 teacher" in (out / "report.md").read_text()
    kd = next(s for s in report["stages"] if s["name"] == "kd")["metrics"]
    assert kd["history"][0]["val_top1"] == report["accuracy_pytorch"]["top1"]  # the best (only) epoch shipped
