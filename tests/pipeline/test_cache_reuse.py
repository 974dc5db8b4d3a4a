"""Reruns through the CLI: the plan says what comes from the cache, a tampered entry is recomputed, --dry-run."""

import json
import os

BASE = ["compress", "test_resnet", "--data", "synthetic", "--img-size", "32", "--epochs", "0", "--formats", "onnx",
        "--runs", "5"]


def report(out):
    return json.loads((out / "report.json").read_text())


def test_a_tampered_cache_entry_is_recomputed_never_trusted(cli, tmp_path):
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache")}
    first = cli(*BASE, "--out", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    exported = next((tmp_path / "cache" / "stages" / "export").glob("*/test_resnet.onnx"))
    exported.write_bytes(exported.read_bytes()[:-10])  # truncated in the cache
    second = cli(*BASE, "--out", str(tmp_path / "b"), env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    said = " ".join(second.stderr.split())  # the 80-column console wraps long lines
    assert "is damaged (test_resnet.onnx does not match its sha256); recomputing it" in said
    stages = {(s["name"], s.get("target")): s["cached"] for s in report(tmp_path / "b")["stages"]}
    assert stages[("teacher", None)] and not stages[("export", "onnx")]
    assert report(tmp_path / "b")["artifacts"][0]["sha256"] == report(tmp_path / "a")["artifacts"][0]["sha256"]


def test_dry_run_prints_the_plan_and_writes_nothing(cli, tmp_path):
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache"), "COLUMNS": "80"}
    result = cli(*BASE, "--prune", "0.3", "--out", str(tmp_path / "run"), "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    for step in ("teacher", "prune", "export onnx", "verify onnx", "baseline export onnx", "bench onnx", "total"):
        assert step in result.stderr, step
    assert all(len(line) <= 80 for line in result.stderr.splitlines())
    assert not (tmp_path / "run").exists() and not os.path.exists(tmp_path / "cache" / "stages" / "teacher")
