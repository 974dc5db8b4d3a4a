"""`edgekit bench` end to end on a tiny ONNX file: measurement settings, child-process cold start, A/B comparison."""

import json

import pytest
from doubles import assert_one_line_error, tiny_onnx

pytest.importorskip("onnxruntime")


def test_bench_with_baseline_pinning_and_time_based_warmup(cli, tmp_path):
    path = tiny_onnx(tmp_path / "tiny.onnx")
    result = cli("bench", str(path), "--baseline", str(path), "--runs", "20", "--warmup", "2", "--warmup-seconds",
                 "0.05", "--cpus", "0", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    entry, comparison = payload["results"][0], payload["comparisons"][0]
    latency = entry["latency_ms"]
    assert latency["runs"] == len(latency["samples"]) == 20 and latency["threads"] == 1 and latency["cpus"] == [0]
    assert {"p50", "p90", "p99", "mean", "std", "min"} <= set(latency)
    cold = entry["cold_start"]
    assert cold["process"] == "child" and cold["peak_rss_mb"] > 0 and entry["load_ms"] == cold["load_ms"] > 0
    assert comparison["ratio_ci"][0] <= comparison["ratio"] <= comparison["ratio_ci"][1]
    assert len(comparison["baseline_latency_ms"]["samples"]) == 20
    assert 0 <= comparison["mann_whitney"]["p_slower"] <= 1
    assert payload["settings"]["warmup_seconds"] == 0.05 and {"cpu", "flags", "load_average"} <= set(payload["env"])


def test_bench_refuses_a_corrupt_file_in_one_line(cli, tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    assert_one_line_error(cli("bench", str(tmp_path / "broken.onnx")), "cannot be loaded and run")


def test_bench_refuses_unavailable_cpus(cli, tmp_path):
    path = tiny_onnx(tmp_path / "tiny.onnx")
    assert_one_line_error(cli("bench", str(path), "--cpus", "4096"), "--cpus 4096")


def test_bench_table_shows_cold_start_and_memory_in_80_columns(cli, tmp_path):
    tiny_onnx(tmp_path / "tiny.onnx")
    result = cli("bench", "tiny.onnx", "--runs", "10", "--min-seconds", "0.05", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[1].split() == ["cold", "peak"] and lines[2].split() == ["load", "RSS", "top-1"]
    assert lines[3].split() == ["artifact", "format", "MB", "p50", "p90", "p99", "ms", "MiB", "%"]
    assert any(line.startswith("tiny.onnx ") for line in lines) and max(map(len, lines)) <= 80
