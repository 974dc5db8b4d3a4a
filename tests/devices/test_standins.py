"""The stand-in benchmark binaries (tests/devices/standins/) run real .tflite/.pte files, print what the real tools
print, and their output round-trips through the parsers; executor_runner's printed outputs equal edgekit's own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.devices.parsers import ParseError, parse_benchmark_model, parse_executor_runner

STANDINS = Path(__file__).parent / "standins"
# the shapes of the real tools' lines (tests/devices/samples: litert_logcat_brief_yolo26n.txt, tflite_larq_rpi4.txt)
LITERT_STATS = re.compile(r"^INFO: count=\d+ (?:first=\d+ curr=\d+ min=\d+ max=\d+ avg=[\d.e+]+ std=\d+|curr=\d+"
                          r"(?:\(all same\))?) p5=\d+ median=\d+ p95=\d+$")
TF_STATS = re.compile(r"^count=\d+ (?:first=\d+ curr=\d+ min=\d+ max=\d+ avg=[\d.e+]+ std=\d+"
                      r"|curr=\d+(?:\(all same\))?)$")
RUNNING = re.compile(r"Running benchmark for at least \d+ iterations and at least [\d.]+ seconds but terminate if "
                     r"exceeding [\d.]+ seconds\.$")


@pytest.fixture(scope="module")
def files(tiny_files):
    """The session's tiny .tflite and .pte files (tests/devices/conftest.py)."""
    return {fmt: tiny_files[fmt] for fmt in ("tflite", "pte")}


def run(tool: str, *args: str, style: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("EDGEKIT_STANDIN_STYLE", None)
    if style:
        env["EDGEKIT_STANDIN_STYLE"] = style
    return subprocess.run([sys.executable, str(STANDINS / f"{tool}.py"), *args], capture_output=True, text=True,
                          timeout=300, env=env)


# --- benchmark_model ------------------------------------------------------------------------------------------------

def test_benchmark_model_litert_output_round_trips(files):
    proc = run("benchmark_model", f"--graph={files['tflite']}", "--num_threads=1", "--use_xnnpack=true",
               "--num_runs=7", "--warmup_runs=2", "--min_secs=0", "--warmup_min_secs=0", "--max_secs=60",
               "--report_peak_memory_footprint=true")
    assert proc.returncode == 0, proc.stderr
    out = parse_benchmark_model(proc.stdout + proc.stderr)
    assert out.generation == "stats+percentiles"
    assert out.warmup.count == 2 and out.timed.count == 7  # min_secs=0: exactly the asked runs
    assert out.timed.plan.min_runs == 7 and out.timed.plan.min_secs == 0 and out.timed.plan.max_secs == 60
    timed = out.timed
    assert 0 < timed.min_ms <= timed.p5_ms <= timed.median_ms <= timed.p95_ms <= timed.max_ms < 1000
    assert timed.min_ms <= timed.avg_ms <= timed.max_ms and out.inference_avg_ms == timed.avg_ms
    assert out.first_ms == out.warmup.first_ms and out.init_ms > 0
    assert out.model_size_mb == pytest.approx(files["tflite"].stat().st_size / 1e6, rel=1e-5)
    assert out.peak_memory_mb > 0 and out.overall_footprint_mb is not None
    assert any("completely executed by the delegate" in note for note in out.delegate_notes)
    stdout = proc.stdout.splitlines()
    assert all(line.startswith(("INFO: ", "WARN: ")) or not line for line in stdout)
    assert sum(bool(LITERT_STATS.match(line)) for line in stdout) == 2
    assert sum(bool(RUNNING.search(line)) for line in stdout) == 2
    assert "INFO: Memory status at the end of exeution:" in stdout  # the source's spelling


def test_benchmark_model_tf2019_style_and_the_min_secs_rule(files):
    proc = run("benchmark_model", f"--graph={files['tflite']}", "--num_runs=3", "--min_secs=0.2",
               "--warmup_min_secs=0", "--use_xnnpack=false", style="tf2019")
    assert proc.returncode == 0, proc.stderr
    assert not any(line.startswith(("INFO:", "WARN:")) for line in proc.stdout.splitlines())
    assert sum(bool(TF_STATS.match(line)) for line in proc.stdout.splitlines()) == 2
    out = parse_benchmark_model(proc.stdout + proc.stderr)
    assert out.generation == "stats" and out.timed.median_ms is None and "median" in out.unavailable
    assert out.timed.count > 3  # at least 0.2 s of runs, far more than 3 for a tiny model
    assert out.timed.count * out.timed.avg_ms >= 0.5 * 200  # most of the 0.2 s went into the runs themselves
    assert out.warmup.count == 1 and out.peak_memory_mb is None


def test_benchmark_model_max_secs_stops_the_timed_phase(files):
    proc = run("benchmark_model", f"--graph={files['tflite']}", "--num_runs=100000000", "--min_secs=0",
               "--warmup_min_secs=0", "--max_secs=0.3", "--bogus=1")
    assert proc.returncode == 0, proc.stderr
    out = parse_benchmark_model(proc.stdout + proc.stderr)
    assert 1 <= out.timed.count < 100000000
    assert out.warnings == ("Unconsumed cmdline flags: --bogus=1",)


def test_benchmark_model_unloadable_file_fails_like_the_tool(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    for path, error in ((bad, "The model is not a valid Flatbuffer buffer"),
                        (tmp_path / "missing.tflite", "Could not open")):
        proc = run("benchmark_model", f"--graph={path}")
        assert proc.returncode == 1
        assert error in proc.stderr and proc.stderr.rstrip().endswith("ERROR: Benchmarking failed.")
        with pytest.raises(ParseError, match=error):
            parse_benchmark_model(proc.stdout + proc.stderr)


# --- executor_runner ------------------------------------------------------------------------------------------------

def _edgekit_output(pte: Path, x: np.ndarray) -> np.ndarray:
    from edgekit.runtimes import open_session

    return open_session(pte, threads=1).run(x)


def test_executor_runner_inputs_and_all_mode_match_edgekit_runtime(files, tmp_path):
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    raw = tmp_path / "x.bin"
    x.tofile(raw)  # --inputs: the input tensor's raw bytes, nothing else
    proc = run("executor_runner", f"--model_path={files['pte']}", "--num_executions=4", "--cpu_threads=1",
               "--print_output", "all", f"--inputs={raw}")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^I \d\d:\d\d:\d\d\.\d{6} executorch:executor_runner\.cpp:\d+\] Model loaded in", proc.stderr,
                     re.MULTILINE)
    out = parse_executor_runner(proc.stderr + proc.stdout)
    assert out.executions == 4 and len(out.samples_ms) == 4 and all(s > 0 for s in out.samples_ms)
    assert out.total_ms == pytest.approx(sum(out.samples_ms), abs=1e-5) and out.load_ms > 0
    assert (out.threads, out.method, out.model_path, out.output_count) == (1, "forward", str(files["pte"]), 1)
    (printed,) = out.outputs
    assert printed.dtype == "float" and printed.shape is None
    np.testing.assert_allclose(printed.values, _edgekit_output(files["pte"], x).ravel(), atol=1e-5, rtol=0)


def test_executor_runner_summary_mode_ones_input(files):
    proc = run("executor_runner", f"--model_path={files['pte']}", "--cpu_threads=1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OutputX 0: tensor(sizes=[1, 10], [")
    out = parse_executor_runner(proc.stdout + proc.stderr)  # stdout first: the parser takes either order
    assert out.executions == 1 and len(out.samples_ms) == 1
    (printed,) = out.outputs
    assert printed.shape == (1, 10) and not printed.elided
    expected = _edgekit_output(files["pte"], np.ones((1, 3, 32, 32), np.float32))
    np.testing.assert_allclose(printed.values, expected, rtol=1e-5, atol=1e-6)  # 6 significant digits


def test_executor_runner_wrong_input_count_aborts(files, tmp_path):
    raw = tmp_path / "x.bin"
    np.zeros((1, 3, 32, 32), np.float32).tofile(raw)
    proc = run("executor_runner", f"--model_path={files['pte']}", f"--inputs={raw},{raw}")
    assert proc.returncode == -signal.SIGABRT
    assert "Wrong number of inputs allocated compared to method  1 ? 2" in proc.stderr
    with pytest.raises(ParseError, match="Wrong number of inputs"):
        parse_executor_runner(proc.stderr)


@pytest.mark.parametrize("args, code, message", [
    (["--model_path=/nonexistent/m.pte"], -signal.SIGABRT, "Failed to open /nonexistent/m.pte"),
    (["--print_output=everything"], 1, "Unknown --print_output mode 'everything'"),
    (["--bogus=1"], 1, "unknown command line flag 'bogus'"),
    (["extra"], 1, "Extra commandline args: extra"),
])
def test_executor_runner_fails_like_the_tool(args, code, message):
    proc = run("executor_runner", *args)
    assert proc.returncode == code and message in proc.stderr
    with pytest.raises(ParseError):
        parse_executor_runner(proc.stderr + proc.stdout)
