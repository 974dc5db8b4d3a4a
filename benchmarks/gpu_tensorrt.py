"""TensorRT on an NVIDIA GPU: FP16 and INT8 engines of efficientnet_lite0, latency at batch 1, throughput at batch N.

    .venv/bin/python benchmarks/gpu_tensorrt.py OUT_DIR [--batch 64] [--duration 3] [--trtexec PATH]

Trains nothing: a randomly initialised timm efficientnet_lite0 (10 classes, 224 px) is exported to FP32 ONNX,
quantized for TensorRT (edgekit.exporters.onnx_trt.quantize_for_tensorrt, seeded random calibration images) and
built into FP16 and INT8 engines, one per batch size (profile min = opt = max). With trtexec (PATH, $TRTEXEC,
/usr/src/tensorrt/bin, /opt/tensorrt/bin) it builds and times through edgekit.devices.tensorrt; with only the
`tensorrt` Python module it builds with the builder API and times queries one at a time (H2D + execute + D2H on one
stream, CUDA events around execute for GPU compute). Each batch-1 engine's outputs are compared with onnxruntime
on CPU (FP16 against the FP32 file, INT8 against the QDQ file). Writes OUT_DIR/gpu_tensorrt.{json,md}; exits 2 with
one line when there is no GPU or no TensorRT, 1 when an engine's outputs disagree. About 3-5 minutes on a
datacenter GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgekit.core.errors import EdgekitError  # noqa: E402  (after the path set-up)

MODEL = "efficientnet_lite0"
CLASSES = 10
PRECISIONS = ("fp16", "int8")
TRTEXEC_PLACES = ("/usr/src/tensorrt/bin/trtexec", "/opt/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")
#: engine vs onnxruntime: max |diff| allowed, as a share of max |reference logit| (plus 1e-3 absolute)
TOLERANCE = {"fp16": 0.02, "int8": 0.10}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder for gpu_tensorrt.json / .md and the engines")
    p.add_argument("--batch", type=int, default=64, help="throughput batch size (latency is at batch 1)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--duration", type=float, default=3.0, help="seconds of timing per engine")
    p.add_argument("--warmup-ms", type=float, default=500.0)
    p.add_argument("--iterations", type=int, default=50, help="at least this many timed queries")
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--verify-images", type=int, default=8)
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="comma list of fp16,int8")
    p.add_argument("--trtexec", default=None, help="trtexec to use (default: found on PATH or in TensorRT's dirs)")
    p.add_argument("--backend", choices=("auto", "trtexec", "python"), default="auto")
    p.add_argument("--device", type=int, default=0)
    args = p.parse_args(argv)
    precisions = [s.strip() for s in args.precisions.split(",") if s.strip()]
    if not precisions or any(s not in PRECISIONS for s in precisions):
        p.error(f"--precisions takes a comma list of {', '.join(PRECISIONS)}")
    if args.batch < 1 or args.image_size < 32 or args.duration <= 0 or args.iterations < 1:
        p.error("--batch >= 1, --image-size >= 32, --duration > 0 and --iterations >= 1 are required")
    args.precisions = precisions
    return args


def find_trtexec(explicit: str | None = None) -> str | None:
    """trtexec from --trtexec, $TRTEXEC, PATH or TensorRT's usual install folders."""
    for candidate in (explicit, os.environ.get("TRTEXEC"), shutil.which("trtexec"), *TRTEXEC_PLACES):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if explicit:
        raise EdgekitError(f"--trtexec '{explicit}' is not an executable file")
    return None


def require_gpu(device: int = 0) -> str:
    """The CUDA device's name, or a one-line EdgekitError."""
    try:
        import torch
    except ImportError:
        raise EdgekitError("this check needs torch with CUDA (pip install torch)") from None
    if not torch.cuda.is_available():
        raise EdgekitError("no NVIDIA GPU: torch.cuda.is_available() is False; run this on a machine with an "
                           "NVIDIA GPU, its driver and TensorRT")
    if device >= torch.cuda.device_count():
        raise EdgekitError(f"CUDA device {device} does not exist ({torch.cuda.device_count()} found)")
    return torch.cuda.get_device_name(device)


def choose_backend(args: argparse.Namespace) -> tuple[str, str | None, tuple[int, int, int]]:
    """("trtexec", path, version) or ("python", None, version), or a one-line EdgekitError."""
    from edgekit.devices.tensorrt import local_runner, parse_version_text, tensorrt_version

    trtexec = find_trtexec(args.trtexec) if args.backend in ("auto", "trtexec") else None
    if trtexec:
        return "trtexec", trtexec, tensorrt_version(local_runner, trtexec, python=None)
    if args.backend == "trtexec":
        raise EdgekitError("no trtexec found (PATH, $TRTEXEC, /usr/src/tensorrt/bin); pass --trtexec PATH")
    from edgekit.runtimes.tensorrt import import_tensorrt

    trt = import_tensorrt()
    version = parse_version_text(trt.__version__)
    if version is None:
        raise EdgekitError(f"cannot read the tensorrt module's version '{trt.__version__}'")
    return "python", None, version


# ---------------------------------------------------------------------------------------------- python backend

def build_python(onnx_path: Path, engine_path: Path, precision: str, batch: int, image_size: int,
                 version: tuple[int, int, int]) -> float:
    """Build with TensorRT's builder API (the same precision rules as edgekit.devices.tensorrt.build_argv)."""
    import tensorrt as trt

    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0 if version[0] >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EdgekitError(f"TensorRT cannot parse '{onnx_path.name}': {(errors or ['unknown error'])[0][:300]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 4 << 30)
    if version[0] < 11:
        if precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    shape = (batch, 3, image_size, image_size)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, shape, shape, shape)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgekitError(f"TensorRT could not build '{engine_path.name}' (see the log above)")
    engine_path.write_bytes(bytes(memoryview(plan)))
    return time.perf_counter() - start


def time_python(engine_path: Path, batch: int, image_size: int, warmup_ms: float, duration_s: float,
                iterations: int, device: int, version: tuple[int, int, int]):
    """Queries one at a time: host wall time of H2D + execute + D2H, CUDA-event time of execute."""
    import numpy as np
    import tensorrt as trt
    import torch

    from edgekit.devices.tensorrt import ExportTimes, TrtexecResult

    dev = torch.device("cuda", device)
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
    if engine is None:
        raise EdgekitError(f"TensorRT cannot load '{engine_path.name}'")
    ctx = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inp = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
    out = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
    shape = (batch, 3, image_size, image_size)
    ctx.set_input_shape(inp, shape)
    host_in = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32)).pin_memory()
    dev_in = torch.empty(shape, dtype=torch.float32, device=dev)
    dev_out = torch.empty(tuple(ctx.get_tensor_shape(out)), dtype=torch.float32, device=dev)
    host_out = torch.empty(dev_out.shape, dtype=torch.float32).pin_memory()
    ctx.set_tensor_address(inp, dev_in.data_ptr())
    ctx.set_tensor_address(out, dev_out.data_ptr())
    stream = torch.cuda.Stream(dev)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    latency, compute = [], []

    def query() -> tuple[float, float]:
        t0 = time.perf_counter()
        with torch.cuda.stream(stream):
            dev_in.copy_(host_in, non_blocking=True)
            begin.record(stream)
            if not ctx.execute_async_v3(stream.cuda_stream):
                raise EdgekitError(f"TensorRT failed to run '{engine_path.name}'")
            end.record(stream)
            host_out.copy_(dev_out, non_blocking=True)
        stream.synchronize()
        return (time.perf_counter() - t0) * 1e3, begin.elapsed_time(end)

    start = time.perf_counter()
    while (time.perf_counter() - start) * 1e3 < warmup_ms:
        query()
    start = time.perf_counter()
    while time.perf_counter() - start < duration_s or len(latency) < iterations:
        lat, gpu = query()
        latency.append(lat)
        compute.append(gpu)
    wall = time.perf_counter() - start
    result = TrtexecResult(version=version, throughput_qps=len(latency) / wall, total_host_walltime_s=wall,
                           queries=len(latency), data_transfers=True)
    return result, ExportTimes(latency_ms=latency, gpu_compute_ms=compute)


# ---------------------------------------------------------------------------------------------- the check

def parity(engine_out, reference, precision: str) -> dict:
    import numpy as np

    diff = float(np.abs(engine_out - reference).max())
    scale = float(np.abs(reference).max())
    allowed = TOLERANCE[precision] * scale + 1e-3
    return {"max_abs_diff": diff, "max_abs_ref": scale, "allowed": allowed,
            "top1_agreement": float((engine_out.argmax(1) == reference.argmax(1)).mean()),
            "passed": bool(np.isfinite(engine_out).all() and diff <= allowed)}


def markdown_table(results: dict) -> str:
    """The results as a markdown table (one row per engine)."""
    env = results["env"]
    lines = [f"# TensorRT on {env['gpu']} (TensorRT {env['tensorrt']}, {env['backend']})", "",
             f"{MODEL}, randomly initialised, {results['image_size']} px. Latency: one query, H2D + GPU compute "
             "+ D2H, in ms; throughput in images/s.", "",
             "| precision | batch | p50 ms | p90 ms | p99 ms | GPU compute p50 ms | img/s | build s | parity |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in results["engines"]:
        lat = row.get("latency") or {}
        par = row.get("parity")
        par_text = "—" if par is None else (f"{'ok' if par['passed'] else 'FAIL'} (max diff {par['max_abs_diff']:.3g},"
                                            f" top-1 {par['top1_agreement']:.2f})")

        def cell(key, fmt="{:.4f}"):
            value = lat.get(key)
            return "—" if value is None else fmt.format(value)
        lines.append(f"| {row['precision']} | {row['batch']} | {cell('p50')} | {cell('p90')} | {cell('p99')} | "
                     f"{cell('gpu_compute_p50')} | {cell('throughput_img_s', '{:.0f}')} | {row['build_s']:.1f} | "
                     f"{par_text} |")
    if results.get("notes"):
        lines += [""] + [f"- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    gpu = require_gpu(args.device)  # before any heavy import or export
    backend, trtexec, version = choose_backend(args)
    import numpy as np
    import onnxruntime as ort
    import timm
    import torch

    from edgekit.devices.tensorrt import build_engine, latency_fields, local_runner, onnx_kind, time_engine
    from edgekit.exporters import export
    from edgekit.exporters.onnx_trt import onnx_for_tensorrt, quantize_for_tensorrt
    from edgekit.runtimes.tensorrt import TensorRTSession

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    size = args.image_size
    torch.manual_seed(0)
    model = timm.create_model(MODEL, num_classes=CLASSES, pretrained=False).eval()
    fp32 = out / f"{MODEL}_fp32.onnx"
    t0 = time.perf_counter()
    export("onnx", model, torch.zeros(1, 3, size, size), fp32)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((args.calibration_images, 3, size, size)).astype(np.float32)
    files = {"fp32": fp32}
    if "int8" in args.precisions:
        qdq = out / f"{MODEL}_trt_qdq.onnx"
        files["qdq"] = qdq
        qdq_report = quantize_for_tensorrt(fp32, qdq, calibration)
    if "fp16" in args.precisions and onnx_kind("fp16", version) == "fp16":
        files["fp16"] = onnx_for_tensorrt("fp16", fp32, out / f"{MODEL}_fp16.onnx")
    prepare_s = time.perf_counter() - t0
    verify_x = rng.standard_normal((args.verify_images, 3, size, size)).astype(np.float32)

    def ort_run(path):
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": verify_x})[0]

    references = {"fp16": ort_run(fp32), "int8": ort_run(files["qdq"]) if "qdq" in files else None}
    rows, failed = [], False
    for precision in args.precisions:
        onnx_path = files[onnx_kind(precision, version)]
        for batch in sorted({1, args.batch}):
            engine = out / f"{MODEL}_{precision}_b{batch}.plan"
            print(f"[gpu_tensorrt] {precision} batch {batch}: building {engine.name}", flush=True)
            row = {"precision": precision, "batch": batch, "onnx": onnx_path.name, "engine": engine.name}
            if backend == "trtexec":
                build = build_engine(local_runner, trtexec, str(onnx_path), str(engine), precision, batch, version,
                                     image_size=size)
                row.update(build_s=build.seconds, argv=build.argv, notes=build.notes)
                timing = time_engine(local_runner, trtexec, str(engine), batch, args.warmup_ms, args.duration,
                                     args.iterations, str(out / f"{engine.stem}_times.json"), version=version,
                                     image_size=size)
                row.update(timing_argv=timing.argv, warnings=timing.result.warnings)
                fields = latency_fields(timing, device="cuda:" + str(args.device))
            else:
                row["build_s"] = build_python(onnx_path, engine, precision, batch, size, version)
                result, samples = time_python(engine, batch, size, args.warmup_ms, args.duration, args.iterations,
                                              args.device, version)
                fields = latency_fields(result, samples, batch=batch, device="cuda:" + str(args.device))
            fields.pop("samples", None)
            row["latency"] = fields
            if batch == 1:
                session = TensorRTSession(engine, device=args.device)
                row["parity"] = parity(session.run(verify_x), references[precision], precision)
                failed |= not row["parity"]["passed"]
            rows.append(row)
    notes = [f"{backend} backend; ONNX export + quantization took {prepare_s:.1f} s",
             "FP16 engines are compared with the FP32 ONNX in onnxruntime CPU, INT8 engines with the QDQ ONNX"]
    if version[0] >= 11 and "int8" in args.precisions:
        notes.append("TensorRT 11 (strongly typed): INT8 engines run layers outside Q/DQ pairs in FP32")
    results = {"model": MODEL, "classes": CLASSES, "image_size": size, "throughput_batch": args.batch,
               "env": {"gpu": gpu, "tensorrt": ".".join(map(str, version)), "backend": backend, "trtexec": trtexec,
                       "torch": torch.__version__, "onnxruntime": ort.__version__},
               "quantization": qdq_report if "qdq" in files else None, "engines": rows, "notes": notes}
    (out / "gpu_tensorrt.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "gpu_tensorrt.md").write_text(markdown_table(results))
    print(markdown_table(results))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except EdgekitError as exc:
        print(f"gpu_tensorrt: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
