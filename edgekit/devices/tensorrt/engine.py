"""Build and time TensorRT engines with trtexec, through a runner (local subprocess or ssh).

Precision per TensorRT version (see docs/tensorrt.md):

| precision | 8.x / 9.x / 10.x                      | 11.x (strongly typed, no precision flags)      |
|-----------|---------------------------------------|------------------------------------------------|
| fp32      | the FP32 ONNX, no flag                | the FP32 ONNX                                  |
| fp16      | the FP32 ONNX + `--fp16`              | an FP16 ONNX (float16 weights, FP32 I/O)       |
| int8      | the QDQ ONNX + `--int8 --fp16`        | the QDQ ONNX as it is (float parts stay FP32)  |

`onnx_kind(precision, version)` says which of those files a build needs; edgekit.exporters.onnx_trt writes them.
Timing never passes `--noDataTransfers` (11.x gets `--includeDataTransfers`), so "Latency" is H2D + GPU compute +
D2H per query and GPU compute is reported beside it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.devices.tensorrt.runner import Runner
from edgekit.devices.tensorrt.trtexec import (
    ExportTimes,
    ParseError,
    TrtexecResult,
    decode_version,
    parse_export_times,
    parse_trtexec,
)

Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
Version = tuple[int, int, int]

VERSION_TIMEOUT_S = 120.0
BUILD_TIMEOUT_S = 3600.0
READ_TIMEOUT_S = 120.0
PERCENTILES = (50, 90, 99)

_BANNER = re.compile(r"\[TensorRT v(\d{1,9})\]")
_DOTTED = re.compile(r"^\s*(\d{1,3})\.(\d{1,3})\.(\d{1,4})(?:\.\d+)?\s*$", re.MULTILINE)


@dataclass
class EngineBuild:
    """One `trtexec --onnx ... --saveEngine ...` run."""

    argv: list[str]
    seconds: float
    log: str
    engine_path: str
    precision: str
    batch: int | None
    version: Version
    result: TrtexecResult | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class EngineTiming:
    """One `trtexec --loadEngine ...` timing run: the parsed summary and, with --exportTimes, per-query samples."""

    argv: list[str]
    seconds: float
    log: str
    result: TrtexecResult
    samples: ExportTimes | None
    batch: int
    warmup_ms: float
    version: Version


# ---------------------------------------------------------------------------------------------- version

def parse_version_text(text: str) -> Version | None:
    """A TensorRT version from trtexec's banner (`[TensorRT v100300]`), a `TensorRT version: 10.3.0` line, or a
    bare `10.3.0.26` as `python3 -c "import tensorrt; print(tensorrt.__version__)"` prints it."""
    m = _BANNER.search(text)
    if m and decode_version(int(m.group(1))):
        return decode_version(int(m.group(1)))
    m = re.search(r"TensorRT version:\s*(\d{1,3})\.(\d{1,3})\.(\d{1,4})", text)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    m = _DOTTED.search(text)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    return None


def tensorrt_version(runner: Runner, trtexec: str = "trtexec", python: str | None = "python3",
                     timeout: float = VERSION_TIMEOUT_S) -> Version:
    """The TensorRT version behind `trtexec`: its banner from `trtexec --help` (printed by every release; 11.x
    exits 1 for `--version`), else the `tensorrt` Python module's version through the same runner."""
    tried = []
    try:
        _, out, err = runner([trtexec, "--help"], timeout)
        found = parse_version_text(out + "\n" + err)
        if found:
            return found
        tried.append(f"'{trtexec} --help' printed no [TensorRT vNNNN] banner")
    except EdgekitError as exc:
        tried.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if python:
        try:
            rc, out, _ = runner([python, "-c", "import tensorrt; print(tensorrt.__version__)"], timeout)
        except EdgekitError as exc:
            rc, out = -1, ""
            tried.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        found = parse_version_text(out) if rc == 0 else None
        if found:
            return found
        if rc != -1:
            tried.append(f"{python} cannot import tensorrt")
    raise EdgekitError("cannot tell the TensorRT version: " + "; ".join(tried))


def strongly_typed(version: Version) -> bool:
    """TensorRT 11 builds every network strongly typed: the ONNX's types decide each layer's precision."""
    return version[0] >= 11


def onnx_kind(precision: str, version: Version) -> Literal["fp32", "fp16", "qdq"]:
    """Which ONNX file a build at `precision` needs: the FP32 export, an FP16 copy (11.x only), or the QDQ file."""
    _check_precision(precision)
    if precision == "int8":
        return "qdq"
    if precision == "fp16" and strongly_typed(version):
        return "fp16"
    return "fp32"


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise EdgekitError(f"unknown TensorRT precision '{precision}'; choose from {', '.join(PRECISIONS)}")


def _check_version(version: Version) -> None:
    if version[0] < 8:
        raise EdgekitError(f"TensorRT {'.'.join(map(str, version))} cannot build these engines: explicit INT8 "
                           "(Q/DQ ONNX) needs TensorRT 8.0 or newer (its logs still parse)")


# ---------------------------------------------------------------------------------------------- argv

def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def input_shape(batch: int, image_size: int | tuple[int, int], channels: int = 3) -> str:
    """trtexec's NxCxHxW shape string."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise EdgekitError(f"batch must be a positive integer, not {batch!r}")
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if min(h, w, channels) < 1:
        raise EdgekitError(f"image size {h}x{w} with {channels} channels is not a valid input shape")
    return f"{batch}x{channels}x{h}x{w}"


def build_argv(trtexec: str, onnx_path: str, engine_path: str, precision: str, batch: int | None,
               version: Version, *, image_size: int | tuple[int, int] = 224, input_name: str = "input",
               dla_core: int | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """argv that builds `engine_path` from `onnx_path` without timing it (see the module table for precision).

    `batch` fixes the optimisation profile to that batch (min = opt = max); None leaves the ONNX's own shapes
    (a static model). The ONNX must already be the kind `onnx_kind` names: 11.x has no precision flags at all.
    """
    _check_precision(precision)
    _check_version(version)
    argv = [trtexec, f"--onnx={onnx_path}", f"--saveEngine={engine_path}"]
    if batch is not None:
        shape = f"{input_name}:{input_shape(batch, image_size)}"
        argv += [f"--minShapes={shape}", f"--optShapes={shape}", f"--maxShapes={shape}"]
    if not strongly_typed(version):
        argv += {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8", "--fp16"]}[precision]
    major, minor = version[:2]
    argv.append("--skipInference" if (major, minor) >= (8, 6) else "--buildOnly")
    if dla_core is not None:
        argv += [f"--useDLACore={int(dla_core)}", "--allowGPUFallback"]
    return argv + list(extra)


def timing_argv(trtexec: str, engine_path: str, batch: int, version: Version, *,
                image_size: int | tuple[int, int] = 224, input_name: str = "input", warmup_ms: float = 200,
                duration_s: float = 3, iterations: int = 10, export_times_path: str | None = None,
                dla_core: int | None = None, static_shape: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """argv that times a saved engine at `batch` for at least `duration_s` seconds and `iterations` queries after
    `warmup_ms` of warm-up, with data transfers included (never --noDataTransfers)."""
    _check_version(version)
    if warmup_ms < 0 or duration_s < 0 or iterations < 1:
        raise EdgekitError("warm-up and duration must be >= 0 and iterations >= 1")
    argv = [trtexec, f"--loadEngine={engine_path}"]
    if not static_shape:
        argv.append(f"--shapes={input_name}:{input_shape(batch, image_size)}")
    argv += [f"--warmUp={_num(warmup_ms)}", f"--duration={_num(duration_s)}", f"--iterations={int(iterations)}"]
    if version[:2] >= (8, 5):
        argv.append("--percentile=" + ",".join(str(p) for p in PERCENTILES))
    else:
        argv.append("--percentile=99")  # one percentile only before 8.5
    if strongly_typed(version):
        argv.append("--includeDataTransfers")  # 11.x times GPU compute only by default
    if export_times_path:
        argv.append(f"--exportTimes={export_times_path}")
    if dla_core is not None:
        argv.append(f"--useDLACore={int(dla_core)}")
    return argv + list(extra)


# ---------------------------------------------------------------------------------------------- running

def _failure(what: str, rc: int, out: str, err: str) -> EdgekitError:
    """One line: the first [E] line trtexec printed, else the last non-empty line of its output."""
    reason = ""
    try:
        errors = parse_trtexec(out + "\n" + err).errors
        reason = errors[0] if errors else ""
    except ParseError:
        pass
    if not reason:
        lines = [line.strip() for line in (err + "\n" + out).splitlines() if line.strip()]
        reason = lines[-1] if lines else "no output"
    return EdgekitError(f"{what} failed (exit {rc}): {reason[:300]}")


def build_engine(runner: Runner, trtexec: str, onnx_path: str, engine_path: str, precision: str,
                 batch: int | None, version: Version, *, image_size: int | tuple[int, int] = 224,
                 input_name: str = "input", dla_core: int | None = None, timeout: float = BUILD_TIMEOUT_S,
                 extra: tuple[str, ...] = ()) -> EngineBuild:
    """Build `engine_path` from `onnx_path` (paths as the runner's machine sees them); raises a one-line
    EdgekitError when trtexec fails, naming its first error line."""
    argv = build_argv(trtexec, onnx_path, engine_path, precision, batch, version, image_size=image_size,
                      input_name=input_name, dla_core=dla_core, extra=extra)
    start = time.perf_counter()
    rc, out, err = runner(argv, timeout)
    seconds = time.perf_counter() - start
    if rc != 0:
        raise _failure(f"TensorRT engine build of '{onnx_path}'", rc, out, err)
    try:
        result = parse_trtexec(out + "\n" + err)
    except ParseError:
        result = None
    if result is not None and result.passed is False:
        raise _failure(f"TensorRT engine build of '{onnx_path}'", rc, out, err)
    notes = []
    if precision == "int8" and strongly_typed(version):
        notes.append("TensorRT 11 strongly typed: layers outside Q/DQ pairs run in the ONNX's FP32")
    return EngineBuild(argv=argv, seconds=seconds, log=out + err, engine_path=engine_path, precision=precision,
                       batch=batch, version=version, result=result, notes=notes)


def time_engine(runner: Runner, trtexec: str, engine_path: str, batch: int, warmup_ms: float = 200,
                duration_s: float = 3, iterations: int = 10, export_times_path: str | None = None, *,
                version: Version, image_size: int | tuple[int, int] = 224, input_name: str = "input",
                dla_core: int | None = None, static_shape: bool = False, timeout: float | None = None,
                extra: tuple[str, ...] = ()) -> EngineTiming:
    """Time a saved engine; with `export_times_path` the per-query samples are read back through the runner
    (`cat`, so it works over ssh too). Raises EdgekitError when trtexec fails or prints no performance summary."""
    argv = timing_argv(trtexec, engine_path, batch, version, image_size=image_size, input_name=input_name,
                       warmup_ms=warmup_ms, duration_s=duration_s, iterations=iterations,
                       export_times_path=export_times_path, dla_core=dla_core, static_shape=static_shape,
                       extra=extra)
    limit = timeout if timeout is not None else 600.0 + 10 * (duration_s + warmup_ms / 1000)
    start = time.perf_counter()
    rc, out, err = runner(argv, limit)
    seconds = time.perf_counter() - start
    if rc != 0:
        raise _failure(f"TensorRT timing of '{engine_path}'", rc, out, err)
    result = parse_trtexec(out + "\n" + err)
    if result.passed is False or not result.has_summary:
        raise _failure(f"TensorRT timing of '{engine_path}' (no performance summary)", rc, out, err)
    samples = None
    if export_times_path:
        rc, text, err = runner(["cat", export_times_path], READ_TIMEOUT_S)
        if rc != 0:
            raise EdgekitError(f"cannot read trtexec's --exportTimes file '{export_times_path}': "
                               f"{(err.strip().splitlines() or ['exit ' + str(rc)])[-1][:200]}")
        samples = parse_export_times(text, warmup_ms=warmup_ms)
    return EngineTiming(argv=argv, seconds=seconds, log=out + err, result=result, samples=samples, batch=batch,
                        warmup_ms=float(warmup_ms), version=version)


# ---------------------------------------------------------------------------------------------- records

DECIMALS = 6  # GPU latencies are often below 0.1 ms: keep microsecond-and-below resolution


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), DECIMALS)


def _summary_of(samples: list[float]) -> dict:
    """p50/p90/p99/mean/std/min as edgekit.bench.measure.summarize computes them (numpy linear percentiles)."""
    arr = np.asarray(samples, dtype=np.float64)
    pct = np.percentile(arr, [50, 90, 99])
    return {"p50": _r(pct[0]), "p90": _r(pct[1]), "p99": _r(pct[2]), "mean": _r(arr.mean()),
            "std": _r(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "min": _r(arr.min())}


def latency_fields(timing: EngineTiming | TrtexecResult, samples: ExportTimes | None = None,
                   batch: int | None = None, device: str = "tensorrt") -> dict:
    """edgekit's latency record (edgekit.core.records.Latency keys) plus gpu_compute_p50, throughput_img_s, batch.

    Latencies are per query, one query being one batch of `batch` images, H2D + GPU compute + D2H. From
    per-query samples (--exportTimes) when there are any; else from the summary lines, where `unavailable` lists
    what they cannot give (std always; p90 before 8.5, whose summary has only the 99th percentile). 7.x-8.2's
    queue-inclusive "End-to-End Host Latency" is reported separately as end_to_end_p50. trtexec warms up for a
    time, not a count: `warmup` is 0 and `warmup_ms` says how long. `threads` is 1: one host thread drives trtexec.
    """
    warmup_ms = None
    if isinstance(timing, EngineTiming):
        result, samples = timing.result, samples if samples is not None else timing.samples
        batch = batch if batch is not None else timing.batch
        warmup_ms = timing.warmup_ms
    else:
        result = timing
    batch = batch or 1
    unavailable: list[str] = []
    qps = result.throughput_qps
    record: dict = {}
    if samples is not None and samples.latency_ms:
        record.update(_summary_of(samples.latency_ms))
        record.update(runs=len(samples.latency_ms), samples=[_r(s) for s in samples.latency_ms],
                      source="exportTimes", gpu_compute_p50=_r(np.percentile(samples.gpu_compute_ms, 50)))
        e2e = samples.end_to_end_ms
        record["end_to_end_p50"] = _r(np.percentile(e2e, 50)) if e2e else None
    else:
        lat = result.latency or result.gpu_compute
        if result.latency is None and result.gpu_compute is not None:
            unavailable.append("latency (GPU compute time used)")
        if lat is None:
            raise EdgekitError("trtexec printed no latency summary to build a latency record from")
        record.update(p50=_r(lat.median), p90=_r(lat.percentiles.get(90.0)), p99=_r(lat.percentiles.get(99.0)),
                      mean=_r(lat.mean), std=None, min=_r(lat.min), runs=result.queries, samples=[],
                      source="summary",
                      gpu_compute_p50=_r(result.gpu_compute.median) if result.gpu_compute else None,
                      end_to_end_p50=_r(result.end_to_end.median) if result.end_to_end else None)
        unavailable += [key for key in ("p50", "p90", "p99", "mean", "std", "min", "runs") if record[key] is None]
    if record["gpu_compute_p50"] is None:
        unavailable.append("gpu_compute_p50")
    if qps is None:
        unavailable.append("throughput_img_s")
    record.update(warmup=0, warmup_ms=warmup_ms, threads=1, device=device, batch=batch,
                  throughput_img_s=round(qps * batch, 2) if qps is not None else None,
                  data_transfers=result.data_transfers, unavailable=unavailable)
    return record
