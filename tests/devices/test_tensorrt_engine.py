"""Engine build/timing argv per TensorRT version, version detection, and the round trip through a stand-in trtexec
run by local_runner (TensorRT 10 and 11 behaviour, including 11.x refusing --fp16/--int8)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from edgekit.core.errors import EXIT_INCONCLUSIVE, EdgekitError
from edgekit.core.records import Latency
from edgekit.devices.tensorrt import (
    build_argv,
    build_engine,
    latency_fields,
    local_runner,
    onnx_kind,
    parse_trtexec,
    tensorrt_version,
    time_engine,
    timing_argv,
)
from edgekit.devices.tensorrt.trtexec import TrtexecResult

STANDIN = Path(__file__).parent / "standins" / "trtexec.py"
SAMPLES = Path(__file__).parent / "samples" / "trtexec"


@pytest.fixture
def trtexec(tmp_path) -> str:
    """An executable `trtexec` that runs the stand-in with this interpreter."""
    path = tmp_path / "bin" / "trtexec"
    path.parent.mkdir()
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture
def onnx_file(tmp_path) -> str:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not parsed by the stand-in")
    return str(path)


# ---------------------------------------------------------------------------------------------- argv

@pytest.mark.parametrize(("precision", "version", "kind", "flags"), [
    ("fp32", (10, 3, 0), "fp32", []),
    ("fp16", (10, 3, 0), "fp32", ["--fp16"]),
    ("int8", (10, 3, 0), "qdq", ["--int8", "--fp16"]),
    ("fp16", (8, 6, 1), "fp32", ["--fp16"]),
    ("fp32", (11, 1, 0), "fp32", []),
    ("fp16", (11, 1, 0), "fp16", []),
    ("int8", (11, 1, 0), "qdq", []),
])
def test_precision_flags_and_onnx_kind(precision, version, kind, flags):
    argv = build_argv("trtexec", "m.onnx", "m.plan", precision, 1, version, image_size=224)
    assert onnx_kind(precision, version) == kind
    assert [a for a in argv if a in ("--fp16", "--int8", "--best", "--bf16", "--stronglyTyped")] == flags
    assert argv[:3] == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.plan"]
    assert "--minShapes=input:1x3x224x224" in argv and "--maxShapes=input:1x3x224x224" in argv


def test_build_only_flag_follows_the_version():
    assert "--buildOnly" in build_argv("t", "m.onnx", "m.plan", "fp16", 8, (8, 4, 1))
    assert "--skipInference" in build_argv("t", "m.onnx", "m.plan", "fp16", 8, (8, 6, 1))
    argv = build_argv("t", "m.onnx", "m.plan", "int8", 64, (10, 3, 0), image_size=(160, 192), dla_core=0)
    assert "--optShapes=input:64x3x160x192" in argv and argv[-2:] == ["--useDLACore=0", "--allowGPUFallback"]
    assert not any("Shapes" in a for a in build_argv("t", "m.onnx", "m.plan", "fp32", None, (10, 3, 0)))


def test_timing_argv_never_drops_data_transfers():
    old = timing_argv("t", "m.plan", 1, (8, 4, 1))
    assert "--percentile=99" in old and "--includeDataTransfers" not in old
    ten = timing_argv("t", "m.plan", 64, (10, 3, 0), warmup_ms=500, duration_s=2.5, iterations=50,
                      export_times_path="times.json")
    assert ten == ["t", "--loadEngine=m.plan", "--shapes=input:64x3x224x224", "--warmUp=500", "--duration=2.5",
                   "--iterations=50", "--percentile=50,90,99", "--exportTimes=times.json"]
    eleven = timing_argv("t", "m.plan", 1, (11, 1, 0))
    assert "--includeDataTransfers" in eleven
    assert not any(a == "--noDataTransfers" for a in old + ten + eleven)


@pytest.mark.parametrize("bad", [
    lambda: build_argv("t", "m", "e", "bf16", 1, (10, 3, 0)),
    lambda: build_argv("t", "m", "e", "fp16", 0, (10, 3, 0)),
    lambda: build_argv("t", "m", "e", "int8", 1, (7, 2, 1)),
    lambda: timing_argv("t", "e", 1, (10, 3, 0), iterations=0),
])
def test_bad_requests_are_one_line_errors(bad):
    with pytest.raises(EdgekitError) as info:
        bad()
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------- version

def fake_runner(replies: dict):
    calls = []

    def run(argv, timeout):
        calls.append(list(argv))
        for key, reply in replies.items():
            if key in " ".join(argv):
                if isinstance(reply, Exception):
                    raise reply
                return reply
        return 127, "", "not found"

    run.calls = calls
    return run


def test_version_from_the_help_banner():
    banner = (SAMPLES / "trt110000_header_sam3_26.txt").read_text()
    run = fake_runner({"--help": (0, banner, "")})
    assert tensorrt_version(run, "/usr/src/tensorrt/bin/trtexec") == (11, 0, 0)
    assert run.calls == [["/usr/src/tensorrt/bin/trtexec", "--help"]]


def test_version_falls_back_to_the_python_module():
    run = fake_runner({"--help": EdgekitError("'trtexec' was not found"),
                       "import tensorrt": (0, "10.3.0.30\n", "")})
    assert tensorrt_version(run) == (10, 3, 0)
    with pytest.raises(EdgekitError, match="cannot tell the TensorRT version: 'trtexec' was not found; python3"):
        tensorrt_version(fake_runner({"--help": EdgekitError("'trtexec' was not found")}))


# ---------------------------------------------------------------------------------------------- local_runner

def test_local_runner_timeout_is_inconclusive():
    with pytest.raises(EdgekitError) as info:
        local_runner([sys.executable, "-c", "import time; time.sleep(5)"], 0.3)
    assert info.value.exit_code == EXIT_INCONCLUSIVE and "did not finish within 0.3 s" in str(info.value)


def test_local_runner_missing_binary_and_output():
    with pytest.raises(EdgekitError, match="was not found"):
        local_runner(["/nonexistent/trtexec", "--help"], 5)
    rc, out, err = local_runner([sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'ok\\xff'); "
                                 "sys.stderr.write('e'); sys.exit(3)"], 30)
    assert (rc, out, err) == (3, "ok\ufffd", "e")


# ---------------------------------------------------------------------------------------------- round trip

@pytest.mark.parametrize(("fake", "version"), [("10.3.0", (10, 3, 0)), ("11.1.0", (11, 1, 0))])
def test_build_and_time_through_the_standin(fake, version, trtexec, onnx_file, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", fake)
    assert tensorrt_version(local_runner, trtexec) == version
    engine = str(tmp_path / "m_b8.plan")
    build = build_engine(local_runner, trtexec, onnx_file, engine, "fp16", 8, version, image_size=32)
    assert os.path.isfile(engine) and build.result.passed is True and build.result.version == version
    times = str(tmp_path / "times.json")
    timing = time_engine(local_runner, trtexec, engine, 8, warmup_ms=50, duration_s=0.2, iterations=20,
                         export_times_path=times, version=version, image_size=32)
    r = timing.result
    assert r.passed is True and r.data_transfers is True and r.h2d.median > 0
    assert sorted(r.latency.percentiles) == [50.0, 90.0, 99.0]
    assert len(timing.samples.latency_ms) == r.queries >= 20
    fields = latency_fields(timing)
    assert fields["source"] == "exportTimes" and fields["batch"] == 8 and fields["unavailable"] == []
    assert fields["throughput_img_s"] == round(r.throughput_qps * 8, 2)
    assert fields["gpu_compute_p50"] < fields["p50"] <= fields["p99"]
    assert abs(fields["p50"] - r.latency.median) < 0.05 * r.latency.median
    Latency(**{k: v for k, v in fields.items() if k in Latency.model_fields})  # a valid latency record


def test_trt11_refuses_precision_flags_like_trtexec_does(trtexec, onnx_file, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", "11.1.0")
    argv = build_argv(trtexec, onnx_file, str(tmp_path / "e.plan"), "fp16", 1, (10, 3, 0))  # a 10.x argv
    rc, out, err = local_runner(argv, 60)
    assert rc == 1 and "&&&& FAILED" not in out and "Unknown option: --fp16 " in err
    assert parse_trtexec(out + err).errors == ["Unknown option: --fp16"]
    with pytest.raises(EdgekitError, match=r"failed \(exit 1\): Unknown option: --fp16$"):
        build_engine(lambda a, t: (rc, out, err), trtexec, onnx_file, "e.plan", "fp16", 1, (11, 1, 0))


def test_trt10_refuses_the_trt11_transfer_flag(trtexec, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", "10.3.0")
    rc, _, err = local_runner(timing_argv(trtexec, "e.plan", 1, (11, 1, 0)), 60)
    assert rc == 1 and "Unknown option: --includeDataTransfers" in err


def test_an_engine_of_another_version_fails_in_one_line(trtexec, onnx_file, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", "10.3.0")
    engine = str(tmp_path / "e.plan")
    build_engine(local_runner, trtexec, onnx_file, engine, "int8", 1, (10, 3, 0), image_size=32)
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", "11.1.0")
    with pytest.raises(EdgekitError) as info:
        time_engine(local_runner, trtexec, engine, 1, duration_s=0.1, version=(11, 1, 0), image_size=32)
    assert "Version tag does not match" in str(info.value) and "\n" not in str(info.value)


def test_a_missing_onnx_fails_naming_trtexecs_error(trtexec, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_FAKE_TRT", "10.3.0")
    with pytest.raises(EdgekitError, match="Cannot open ONNX file"):
        build_engine(local_runner, trtexec, str(tmp_path / "none.onnx"), "e.plan", "fp32", 1, (10, 3, 0))


# ---------------------------------------------------------------------------------------------- records

def test_latency_fields_from_summary_lines_only():
    r = parse_trtexec((SAMPLES / "trt8400_meta_tegra952.txt").read_text())
    fields = latency_fields(r, batch=16)
    assert fields["source"] == "summary" and fields["p50"] == 0.401947 and fields["p99"] == 0.420288
    assert fields["p90"] is None and fields["std"] is None and fields["gpu_compute_p50"] == 0.388443
    assert fields["throughput_img_s"] == round(41087.7 * 16, 2)
    assert set(fields["unavailable"]) == {"p90", "std", "runs"}
    r11 = parse_trtexec((SAMPLES / "trt110100_constructed.txt").read_text())
    fields = latency_fields(r11)
    assert (fields["p50"], fields["p90"], fields["p99"]) == (0.497559, 0.501953, 0.520508)
    assert fields["runs"] == 5987 and fields["unavailable"] == ["std"] and fields["data_transfers"] is True


def test_latency_fields_keeps_old_end_to_end_apart():
    fields = latency_fields(parse_trtexec((SAMPLES / "trt8_e2e_meta_tegra1124.txt").read_text()))
    assert fields["p50"] == 0.572998 and fields["end_to_end_p50"] == 0.585938


def test_latency_fields_needs_some_latency():
    with pytest.raises(EdgekitError, match="no latency summary"):
        latency_fields(TrtexecResult(version=(10, 3, 0)))
