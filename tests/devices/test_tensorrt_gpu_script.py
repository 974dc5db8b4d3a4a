"""benchmarks/gpu_tensorrt.py without a GPU: it parses its arguments, and stops with one clear line (exit 2) before
any export when there is no CUDA device; its table writer works on a results dict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_tensorrt.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("gpu_tensorrt", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arguments(script, tmp_path):
    args = script.parse_args([str(tmp_path), "--batch", "32", "--precisions", "int8"])
    assert (args.out, args.batch, args.image_size, args.precisions) == (tmp_path, 32, 224, ["int8"])
    with pytest.raises(SystemExit):
        script.parse_args([str(tmp_path), "--precisions", "fp8"])


def test_without_a_gpu_it_fails_in_one_line(script, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert script.main([str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gpu_tensorrt: no NVIDIA GPU") and "\n" not in err
    assert not (tmp_path / "out").exists()  # nothing exported


def test_a_named_trtexec_must_exist(script, tmp_path):
    with pytest.raises(script.EdgekitError, match="is not an executable file"):
        script.find_trtexec(str(tmp_path / "trtexec"))


def test_markdown_table(script):
    row = {"precision": "int8", "batch": 1, "build_s": 41.2,
           "latency": {"p50": 0.51, "p90": 0.52, "p99": 0.6, "gpu_compute_p50": 0.4, "throughput_img_s": 1950.0},
           "parity": {"passed": True, "max_abs_diff": 0.0123, "top1_agreement": 1.0}}
    results = {"image_size": 224, "env": {"gpu": "NVIDIA H200", "tensorrt": "10.13.0", "backend": "trtexec"},
               "engines": [row, {**row, "batch": 64, "parity": None}], "notes": ["a note"]}
    table = script.markdown_table(results)
    assert "| int8 | 1 | 0.5100 | 0.5200 | 0.6000 | 0.4000 | 1950 | 41.2 | ok (max diff 0.0123, top-1 1.00) |" in table
    assert "| int8 | 64 |" in table and table.endswith("- a note\n")
    assert sys.modules.get("tensorrt") is None
