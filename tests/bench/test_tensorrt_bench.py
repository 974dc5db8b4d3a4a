"""`edgekit bench --runtime tensorrt` end to end with the stand-in trtexec (TensorRT 10 and 11 behaviour): engines
built from the ONNX file, timed at batch 1 and --batch, engines recorded by sha256, INT8 from a symmetric QDQ copy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
STANDIN = Path(__file__).resolve().parents[1] / "devices" / "standins" / "trtexec.py"


@pytest.fixture
def trtexec_on_path(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "trtexec").write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN} \"$@\"\n")
    (folder / "trtexec").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    return folder


@pytest.fixture(scope="module")
def three_conv_onnx(tmp_path_factory) -> Path:
    import torch

    from edgekit.exporters import export

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()]
    for _ in range(2):
        layers += [torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))
    path = tmp_path_factory.mktemp("trt") / "net.onnx"
    export("onnx", model.eval(), torch.zeros(1, 3, 32, 32), path)
    return path


@pytest.mark.parametrize("version", ["10.3.0", "11.1.0"])
def test_fp16_and_int8_engines_are_built_timed_and_recorded(cli, trtexec_on_path, three_conv_onnx, monkeypatch,
                                                            version):
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", version)
    result = cli("bench", str(three_conv_onnx), "--runtime", "tensorrt", "--precision", "fp16,int8", "--batch", "16",
                 "--data", "synthetic", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["env"]["tensorrt"] == version
    fp16, int8 = payload["results"]
    assert (fp16["precision"], int8["precision"]) == ("fp16", "int8")
    assert int8["onnx_for_tensorrt"] == "qdq" and "symmetric" in int8["notes"][0]
    assert fp16["onnx_for_tensorrt"] == ("fp16" if version.startswith("11") else "fp32")
    for entry in payload["results"]:
        latency = entry["latency_ms"]
        assert latency["p50"] > 0 and len(latency["samples"]) == latency["runs"] > 0 and latency["gpu_compute_p50"]
        assert entry["throughput"]["batch"] == 16 and entry["throughput"]["img_per_s"] > 0
        assert {e["batch"] for e in entry["engines"].values()} == {1, 16}
        assert all(len(e["sha256"]) == 64 for e in entry["engines"].values())
        assert entry["verification"]["status"] == "not verified"  # no tensorrt Python module here


def test_int8_without_data_and_non_onnx_files_are_one_line_errors(cli, trtexec_on_path, three_conv_onnx, tmp_path):
    no_data = cli("bench", str(three_conv_onnx), "--runtime", "tensorrt", "--precision", "int8")
    assert no_data.returncode == 2 and "--data" in no_data.stderr
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"x")
    wrong = cli("bench", str(tflite), "--runtime", "tensorrt")
    assert wrong.returncode == 2 and ".onnx" in wrong.stderr


def test_no_trtexec_says_where_to_get_it(cli, three_conv_onnx, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    result = cli("bench", str(three_conv_onnx), "--runtime", "tensorrt")
    assert result.returncode == 2 and "libnvinfer-bin" in result.stderr
