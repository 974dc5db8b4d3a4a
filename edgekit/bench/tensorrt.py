"""`edgekit bench model.onnx --runtime tensorrt`: TensorRT engines built from the ONNX file and timed with trtexec,
on this machine's NVIDIA GPU or on a Jetson over ssh.

Per precision (fp16, int8) two engines are built: batch 1 for latency and `--batch N` for throughput (img/s).
INT8 engines come from an explicitly quantized QDQ copy with symmetric int8 activations (zero point 0, what
TensorRT requires), calibrated on `--data` images; edgekit's own int8 ONNX files (uint8 activations for
onnxruntime) are not what TensorRT takes, so the TensorRT target gets its own quantization and says so. Every
engine is an artifact with its sha256; its outputs are compared with onnxruntime's on the FP32 file when the
`tensorrt` Python module is on this machine, else the report says they were not verified.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.io import sha256_file
from edgekit.devices import Device
from edgekit.devices.tensorrt import (
    build_engine,
    latency_fields,
    local_runner,
    onnx_kind,
    tensorrt_version,
    time_engine,
)
from edgekit.devices.transport import Transient
from edgekit.exporters.onnx_trt import onnx_for_tensorrt
from edgekit.runtimes.worker import TRTEXEC_PATHS

PRECISIONS = ("fp16", "int8")
CALIBRATION_IMAGES = 256


def find_trtexec(device: Device) -> str:
    """trtexec on the device: devices.yaml's `binaries: {trtexec: PATH}`, PATH, then JetPack's locations."""
    configured = (getattr(device.settings, "binaries", None) or {}).get("trtexec")
    if configured:
        return configured
    if device.kind == "local":
        found = shutil.which("trtexec") or next((p for p in TRTEXEC_PATHS if Path(p).is_file()), None)
    else:
        probe = device.shell("command -v trtexec || ls " + " ".join(TRTEXEC_PATHS) + " 2>/dev/null; true",
                             what=f"looking for trtexec on {device.label}")
        found = next(iter(probe.stdout.split()), None)
    if not found:
        raise EdgekitError(f"no trtexec on {device.label}: JetPack ships /usr/src/tensorrt/bin/trtexec; elsewhere "
                           "install the TensorRT tar/deb package (libnvinfer-bin) or set binaries: {trtexec: PATH} "
                           "in devices.yaml")
    return found


def _runner(device: Device):
    """A trtexec runner for the device: subprocess here, the device's shell (with its retries) over ssh."""
    if device.kind == "local":
        return local_runner
    if device.kind != "ssh":
        raise EdgekitError(f"--runtime tensorrt runs on this machine or over ssh (a Jetson), not on {device.kind}")

    def run(argv: list[str], timeout: float) -> tuple[int, str, str]:
        try:
            result = device.shell(shlex.join(argv), timeout=timeout, what=f"{Path(argv[0]).name} on {device.label}")
        except Transient as exc:
            raise EdgekitError(str(exc)) from exc
        return result.returncode, result.stdout, result.stderr

    return run


def _input(path: Path) -> tuple[str, int]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] <= 0:
        raise EdgekitError(f"'{path}' has no N×3×H×W image input for TensorRT (input {inputs[0].name}: {dims})")
    return inputs[0].name, int(dims[2])


def bench_tensorrt(paths: list[Path], device: Device, precisions: list[str], batch: int,
                   calibration: np.ndarray | None, duration_s: float = 3.0, warmup_ms: float = 500.0) -> dict:
    """Engines of each FP32 ONNX file at each precision, timed at batch 1 (latency) and `batch` (throughput)."""
    for precision in precisions:
        if precision not in PRECISIONS:
            raise EdgekitError(f"--precision {precision}: TensorRT engines here are {', '.join(PRECISIONS)}")
    if "int8" in precisions and calibration is None:
        raise EdgekitError("--precision int8 for TensorRT needs calibration images: give --data")
    for path in paths:
        if Path(path).suffix != ".onnx":
            raise EdgekitError(f"--runtime tensorrt builds engines from .onnx files, not '{path}'")
    results = []
    with device.session(), tempfile.TemporaryDirectory(prefix="edgekit-trt-") as tmp:
        runner, trtexec = _runner(device), find_trtexec(device)
        version = tensorrt_version(runner, trtexec, python=getattr(device.settings, "python", "python3"))
        for path in map(Path, paths):
            input_name, size = _input(path)
            for precision in precisions:
                kind = onnx_kind(precision, version)
                source = onnx_for_tensorrt(kind, path, Path(tmp) / f"{path.stem}.{kind}.onnx",
                                           calibration[:CALIBRATION_IMAGES] if calibration is not None else None)
                results.append(_engine_pair(device, runner, trtexec, version, source, path, precision, batch,
                                            input_name, size, Path(tmp), duration_s, warmup_ms, kind))
    return {"results": results, "settings": {"runtime": "tensorrt", "precisions": precisions, "batch": batch,
                                             "device": device.label, "duration_s": duration_s,
                                             "warmup_ms": warmup_ms},
            "env": {**device.environment(), "tensorrt": ".".join(map(str, version))}}


def _engine_pair(device, runner, trtexec, version, source: Path, path: Path, precision: str, batch: int,
                 input_name: str, size: int, tmp: Path, duration_s: float, warmup_ms: float, kind: str) -> dict:
    remote_source = _place(device, source)
    entry: dict = {"path": str(path), "format": "onnx", "runtime": "tensorrt", "precision": precision,
                   "onnx_for_tensorrt": kind, "engines": {}}
    for role, engine_batch in (("latency", 1), ("throughput", batch)):
        engine = f"{_folder(device, tmp)}/{path.stem}.{precision}.b{engine_batch}.engine"
        built = build_engine(runner, trtexec, remote_source, engine, precision, engine_batch, version,
                             image_size=size, input_name=input_name)
        times = f"{_folder(device, tmp)}/{path.stem}.{precision}.b{engine_batch}.times.json"
        timed = time_engine(runner, trtexec, engine, engine_batch, warmup_ms=warmup_ms, duration_s=duration_s,
                            export_times_path=times, version=version, image_size=size, input_name=input_name)
        record = latency_fields(timed, batch=engine_batch, device=device.label)
        local_engine = _fetch(device, engine, tmp)
        entry["engines"][role] = {"batch": engine_batch, "sha256": sha256_file(local_engine),
                                  "size_bytes": local_engine.stat().st_size,
                                  "build_seconds": round(built.seconds, 2), "notes": built.notes}
        if role == "latency":
            entry["latency_ms"] = record
            entry["verification"] = _verify(local_engine, path, device)
        else:
            entry["throughput"] = {"batch": engine_batch, "img_per_s": record["throughput_img_s"],
                                   "gpu_compute_p50_ms": record["gpu_compute_p50"], "p50_ms": record["p50"]}
    if kind == "qdq":
        entry["notes"] = ["INT8 from a symmetric QDQ copy made for TensorRT (zero points 0), not edgekit's "
                          "onnxruntime int8 file"]
    return entry


def _folder(device: Device, tmp: Path) -> str:
    return str(tmp) if device.kind == "local" else device.run_dir


def _place(device: Device, source: Path) -> str:
    return str(source) if device.kind == "local" else device.ensure_files([source])[0]


def _fetch(device: Device, engine: str, tmp: Path) -> Path:
    return Path(engine) if device.kind == "local" else device.fetch(engine, tmp / Path(engine).name)


def _verify(engine: Path, onnx_path: Path, device: Device) -> dict:
    """Engine outputs against onnxruntime's on the FP32 file, where this machine can run the engine."""
    if device.kind != "local":
        return {"status": "not verified", "reason": f"the engine runs on {device.label}; edgekit verifies engines "
                                                     "where the tensorrt Python module is (local GPU)"}
    try:
        from edgekit.runtimes import open_session
        from edgekit.runtimes.tensorrt import TensorRTSession

        session = TensorRTSession(engine, 1)
    except EdgekitError as exc:
        return {"status": "not verified", "reason": str(exc)}
    from edgekit.bench.measure import parity

    x = np.random.default_rng(0).standard_normal((8, *session.input_shape[1:])).astype(np.float32)
    reference = open_session(onnx_path).run(x)
    result = parity(session.run(x), reference, atol=5e-2, rtol=5e-2)
    return {"status": "ok" if result["passed"] else "failed", "parity": result}
