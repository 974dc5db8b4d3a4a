"""Cold start and peak memory in a child process; a crashing or hanging runtime is one line, never edgekit's crash."""

import json
import os
import sys

import pytest
from doubles import tiny_onnx

from edgekit.core.errors import EdgekitError
from edgekit.runtimes.isolated import probe

pytest.importorskip("onnxruntime")

RUNTIMES = '''
import os, signal, time

class Crash:
    def __init__(self, path, threads):
        os.kill(os.getpid(), signal.SIGSEGV)

class Hang:
    def __init__(self, path, threads):
        time.sleep(60)
'''


@pytest.fixture
def fake_runtimes(tmp_path):
    (tmp_path / "fake_runtimes.py").write_text(RUNTIMES)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}


def test_probe_measures_cold_start_and_peak_memory(tmp_path):
    result = probe(tiny_onnx(tmp_path / "tiny.onnx"), "onnx", threads=1, runs=2)
    assert result["process"] == "child" and result["runs"] == 3 and result["threads"] == 1
    assert result["load_ms"] > 0 and result["first_run_ms"] > 0 and result["import_ms"] > 0
    assert result["peak_rss_mb"] >= result["rss_start_mb"] > 0
    assert "torch" not in json.dumps(result)


def test_a_crashing_runtime_is_one_clear_error(tmp_path, fake_runtimes):
    path = tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(EdgekitError, match=r"runtime crashed \(SIGSEGV\)") as caught:
        probe(path, "onnx", 1, runtime="fake_runtimes:Crash", env=fake_runtimes)
    assert "\n" not in str(caught.value) and caught.value.exit_code == 2


def test_a_hanging_runtime_times_out(tmp_path, fake_runtimes):
    with pytest.raises(EdgekitError, match="did not finish within 2 s"):
        probe(tiny_onnx(tmp_path / "tiny.onnx"), "onnx", 1, timeout=2, runtime="fake_runtimes:Hang",
              env=fake_runtimes)


def test_a_corrupt_file_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(EdgekitError, match="cannot be loaded and run: onnxruntime cannot load"):
        probe(path, "onnx", 1)
