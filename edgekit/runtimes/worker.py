"""edgekit's measuring worker: one self-contained file (standard library + numpy + whichever runtime is installed).

It is the single source of the timing rules. edgekit imports it on the host (bench/measure.py re-exports
`time_calls` and `interleaved`), and copies this very file to ssh devices and runs it there, so a Jetson or a
Raspberry Pi times files exactly as the host does and returns every sample:

    python3 worker.py doctor               # JSON: CPU, OS, governor, thermal zones, runtimes found, tools found
    python3 worker.py bench REQUEST.json   # JSON: per-file samples, cold start, versions (and outputs as .npy)
    python3 worker.py probe FILE FORMAT THREADS [PROVIDER]   # cold start in a fresh process (run by `bench`)

Nothing from edgekit is imported here, on purpose: the device has only this file.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

MARKER = "EDGEKIT_WORKER "  # prefix of the one result line on stdout (runtimes may print too)
MAX_RUNS = 20_000  # a --min-seconds run of a very fast model stops here
ROUND = 5  # runs per side per round of interleaved timing
FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
         "neon", "asimd", "asimddp", "i8mm", "sve")
TOOLS = ("nvpmodel", "jetson_clocks", "tegrastats", "trtexec", "taskset", "nvidia-smi")
TRTEXEC_PATHS = ("/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")
_QUANTIZED = (np.int8, np.uint8, np.int16)


# --- timing (the rules every device follows) -----------------------------------------------------------------

def time_calls(call: Callable[[], object], warmup: int, runs: int, warmup_seconds: float = 0.0,
               min_seconds: float = 0.0, clock: Callable[[], float] = time.perf_counter) -> tuple[list[float], float]:
    """Run `call` untimed until `warmup` calls AND `warmup_seconds` have passed, then timed until `runs` calls AND
    `min_seconds` have passed (at most MAX_RUNS); return per-run milliseconds and process-CPU/wall ratio."""
    start, done = clock(), 0
    while done < warmup or clock() - start < warmup_seconds:
        call()
        done += 1
    samples: list[float] = []
    cpu0, wall0 = time.process_time(), clock()
    while (len(samples) < runs or clock() - wall0 < min_seconds) and len(samples) < max(runs, MAX_RUNS):
        begin = clock()
        call()
        samples.append((clock() - begin) * 1e3)
    cpu, wall = time.process_time() - cpu0, clock() - wall0
    return samples, cpu / wall if wall > 0 else float("nan")


def interleaved(calls: list[Callable[[], object]], warmup: int, runs: int, *, warmup_seconds: float = 0.0,
                min_seconds: float = 0.0, round_size: int = ROUND, seed: int = 0) -> list[tuple[list[float], float]]:
    """Warm every call up together, then time them in rounds of `round_size` runs each, until each has `runs`
    samples and `min_seconds` have passed (at most MAX_RUNS); returns each call's per-run milliseconds and
    process-CPU/wall ratio.

    Drift hits all alike, and no call pays for another's cache state: every round visits the calls in a fresh
    (seeded) random order, so each one follows every other equally often, and each turn starts with one untimed
    call. In a fixed order the call after a big FP32 model measured ~10% slow (its weights evicted from cache).
    """
    start, done = time.perf_counter(), 0
    while done < warmup or time.perf_counter() - start < warmup_seconds:
        for call in calls:
            call()
        done += 1
    rng = np.random.default_rng(seed)
    samples: list[list[float]] = [[] for _ in calls]
    utils: list[list[float]] = [[] for _ in calls]
    start = time.perf_counter()
    while ((len(samples[0]) < runs or time.perf_counter() - start < min_seconds)
           and len(samples[0]) < max(runs, MAX_RUNS)):
        k = min(round_size, runs - len(samples[0])) if len(samples[0]) < runs else round_size
        for i in rng.permutation(len(calls)) if len(calls) > 1 else [0]:
            got, util = time_calls(calls[i], 1, k)
            samples[i].extend(got)
            utils[i].append(util)
    return [(s, float(np.mean(u))) for s, u in zip(samples, utils)]


def time_loaded(loaded: list, warmup: int, runs: int, warmup_seconds: float = 0.0,
                min_seconds: float = 0.0) -> list[tuple[list[float], float]]:
    """Time models that `run(batch)` on a random batch of their `input_shape`: several interleaved, one alone;
    returns each one's per-run milliseconds and process-CPU/wall ratio."""
    calls = []
    for item in loaded:
        x = example_input(item.input_shape)
        calls.append(lambda item=item, x=x: item.run(x))
    if len(calls) > 1:
        return interleaved(calls, warmup, runs, warmup_seconds=warmup_seconds, min_seconds=min_seconds)
    return [time_calls(calls[0], warmup, runs, warmup_seconds, min_seconds)]


def example_input(shape, seed: int = 0) -> np.ndarray:
    """A random float32 batch of `shape` (dynamic dimensions become 1)."""
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
    return np.random.default_rng(seed).standard_normal(dims).astype(np.float32)


# --- memory and environment ----------------------------------------------------------------------------------

def status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB; None where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process image. VmHWM first: getrusage's ru_maxrss survives exec, so after a
    fork from a big parent it would report the parent's size."""
    peak = status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(maxrss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def cpu_info() -> tuple[str, list[str]]:
    """CPU model name and the SIMD flags that matter for inference kernels (x86 `flags`, ARM `Features`)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Hardware", "Model") and value.strip():
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    return model, [f for f in FLAGS if f in flags]


def governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return None


def thermal_zones() -> dict[str, float]:
    """°C of every readable /sys/class/thermal zone, by its type (zone name when two share a type)."""
    zones: dict[str, float] = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        try:
            name = (zone / "type").read_text().strip() or zone.name
            celsius = int((zone / "temp").read_text().strip()) / 1000
        except (OSError, ValueError):
            continue
        zones[name if name not in zones else f"{name}:{zone.name}"] = round(celsius, 1)
    return zones


def cores_online() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/online").read_text().strip()
    except OSError:
        return None


def environment() -> dict:
    """What a result depends on besides the file: CPU, flags, cores, governor, load, temperatures, OS."""
    model, flags = cpu_info()
    return {"cpu": model, "flags": flags, "cores": os.cpu_count(), "cores_online": cores_online(),
            "governor": governor(), "load_average": [round(v, 2) for v in os.getloadavg()],
            "thermal_c": thermal_zones(), "platform": platform.platform(), "machine": platform.machine(),
            "python": platform.python_version()}


# --- runtimes ------------------------------------------------------------------------------------------------

def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input -> a LiteRT tensor's dtype, using its scale/zero point when it is quantized."""
    dtype = np.dtype(detail["dtype"])
    if dtype.type not in _QUANTIZED:
        return x.astype(dtype, copy=False)
    scale, zero = detail["quantization"]
    if not scale:
        raise ValueError("quantized input tensor has no scale; cannot feed float data")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Quantized LiteRT output -> float32 with its scale/zero point; float outputs are returned as float32."""
    if np.dtype(detail["dtype"]).type in _QUANTIZED:
        scale, zero = detail["quantization"]
        if scale:
            return ((y.astype(np.float32) - zero) * scale).astype(np.float32)
    return np.asarray(y, dtype=np.float32).copy()


class Loaded:
    """A file loaded in its runtime: `run(batch) -> logits`, the input shape it declares, library versions."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], input_shape: list, versions: dict[str, str],
                 runtime: str):
        self.run, self.input_shape, self.versions, self.runtime = run, input_shape, versions, runtime


def _version(module) -> str:
    return str(getattr(module, "__version__", "unknown"))


def load_onnx(path: str, threads: int, provider: str = "cpu") -> Loaded:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    wanted = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
              "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}[provider]
    if wanted[0] not in ort.get_available_providers():
        raise RuntimeError(f"onnxruntime {ort.__version__} here has no {wanted[0]} "
                           f"(it has {', '.join(ort.get_available_providers())})")
    session = ort.InferenceSession(path, options, providers=wanted)
    if session.get_providers()[0] != wanted[0]:
        raise RuntimeError(f"onnxruntime fell back from {wanted[0]} to {session.get_providers()[0]}")
    name, shape = session.get_inputs()[0].name, session.get_inputs()[0].shape

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: x})[0], dtype=np.float32)

    return Loaded(run, [d if isinstance(d, int) else None for d in shape], {"onnxruntime": _version(ort)},
                  f"onnxruntime:{provider}")


def _litert_interpreter():
    """The LiteRT interpreter class from whichever package the device has."""
    for module_name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            module = __import__(module_name, fromlist=["Interpreter"])
            return module.Interpreter, module_name.split(".")[0]
        except ImportError:
            continue
    import tensorflow as tf  # the full TensorFlow, last

    return tf.lite.Interpreter, "tensorflow"


def _package_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name.replace("_", "-"))
    except Exception:  # noqa: BLE001 - a vendor build without metadata
        return "unknown"


def load_tflite(path: str, threads: int, provider: str = "cpu") -> Loaded:
    interpreter_class, package = _litert_interpreter()
    interpreter = interpreter_class(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp["index"], quantize_input(x, inp))
        interpreter.invoke()
        return dequantize_output(interpreter.get_tensor(out["index"]), out)

    return Loaded(run, [int(d) for d in inp["shape"]], {package: _package_version(package)}, "litert")


def load_pte(path: str, threads: int, provider: str = "cpu") -> Loaded:
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if portable_lib._threadpool_get_thread_count() != threads:  # noqa: SLF001 - the only Python hook
        portable_lib._unsafe_reset_threadpool(threads)  # noqa: SLF001
    method = Runtime.get().load_program(Path(path)).load_method("forward")
    try:
        shape = [int(d) for d in method.metadata.input_tensor_meta(0).sizes()]
    except Exception:  # noqa: BLE001 - metadata API differs across versions
        shape = [1]

    def run(x: np.ndarray) -> np.ndarray:
        return method.execute([torch.from_numpy(x)])[0].detach().numpy().astype(np.float32, copy=True)

    return Loaded(run, shape, {"executorch": _package_version("executorch")}, "executorch")


LOADERS = {"onnx": load_onnx, "tflite": load_tflite, "pte": load_pte}
RUNTIME_MODULES = {"onnx": ("onnxruntime",), "tflite": ("ai_edge_litert", "tflite_runtime", "tensorflow"),
                   "pte": ("executorch",)}


def run_batches(loaded: Loaded, images: np.ndarray) -> np.ndarray:
    """Logits of `images` (N×3×H×W) in the file's own batch size."""
    step = loaded.input_shape[0] if loaded.input_shape and isinstance(loaded.input_shape[0], int) else len(images)
    outputs = [loaded.run(np.ascontiguousarray(images[i:i + step])) for i in range(0, len(images), step)]
    return np.concatenate(outputs)


# --- commands ------------------------------------------------------------------------------------------------

def cold_start(import_runtime: Callable[[], object], load: Callable[[object], object], threads: int,
               runs: int = 3) -> dict:
    """Import the runtime, load the file, run it: the cold start an app pays (times in ms, memory in MiB).
    `load(imported)` returns anything with `run(batch)` and `input_shape`."""
    rss_start = status_mb("VmRSS")
    start = time.perf_counter()
    imported = import_runtime()
    import_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    loaded = load(imported)
    load_ms = (time.perf_counter() - start) * 1e3
    x = example_input(loaded.input_shape)
    start = time.perf_counter()
    loaded.run(x)
    first_run_ms = (time.perf_counter() - start) * 1e3
    for _ in range(runs):
        loaded.run(x)
    return {"import_ms": round(import_ms, 2), "load_ms": round(load_ms, 2), "first_run_ms": round(first_run_ms, 2),
            "runs": runs + 1, "threads": threads, "rss_start_mb": rss_start, "peak_rss_mb": peak_rss_mb(),
            "process": "child"}


def _import_first(modules: tuple[str, ...]) -> None:
    for module_name in modules:
        try:
            __import__(module_name)
            return
        except ImportError:
            continue


def probe(path: str, fmt: str, threads: int, provider: str = "cpu", runs: int = 3) -> dict:
    """The cold start of `path` in this process (run in a fresh child by `bench`)."""
    return cold_start(lambda: _import_first(RUNTIME_MODULES[fmt]),
                      lambda _: LOADERS[fmt](path, threads, provider), threads, runs)


def _probe_child(path: str, fmt: str, threads: int, provider: str, timeout: float) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "probe", path, fmt, str(threads), provider]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    result = _result_line(proc.stdout)
    if proc.returncode < 0:
        raise RuntimeError(f"the {fmt} runtime crashed (signal {-proc.returncode}) loading or running {path}")
    if result is None or "error" in result:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise RuntimeError((result or {}).get("error") or tail)
    return result


def _result_line(stdout: str) -> dict | None:
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    return json.loads(lines[-1][len(MARKER):]) if lines else None


def bench(request: dict) -> dict:
    """Cold start of each file (child processes), then latency of all files interleaved, then outputs."""
    if request.get("cpus"):
        os.sched_setaffinity(0, request["cpus"])
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    threads, provider = int(request["threads"]), request.get("provider", "cpu")
    files = request["files"]
    colds = [_probe_child(f["path"], f["format"], threads, provider, request.get("timeout", 300))
             if request.get("cold_start", True) else None for f in files]
    loaded = [LOADERS[f["format"]](f["path"], threads, provider) for f in files]
    timed = time_loaded(loaded, int(request["warmup"]), int(request["runs"]),
                        float(request.get("warmup_seconds", 0.0)), float(request.get("min_seconds", 0.0)))
    results = []
    for i, (item, (samples, util), cold) in enumerate(zip(loaded, timed, colds)):
        entry = {"samples": [round(s, 4) for s in samples], "cpu_util": round(util, 3), "cold_start": cold,
                 "versions": item.versions, "runtime": item.runtime, "input_shape": item.input_shape}
        if request.get("images"):
            out = Path(request["outputs_dir"]) / f"outputs_{i}.npy"
            np.save(out, run_batches(item, np.load(request["images"], allow_pickle=False)))
            entry["outputs"] = str(out)
        results.append(entry)
    return {"files": results, "cpus": cpus, "env": environment()}


def _which(tool: str) -> str | None:
    found = shutil.which(tool)
    if found is None and tool == "trtexec":
        found = next((p for p in TRTEXEC_PATHS if os.access(p, os.X_OK)), None)
    return found


def doctor() -> dict:
    """What this machine can run: Python, numpy, each runtime (and onnxruntime's execution providers), tools."""
    runtimes: dict[str, dict] = {}
    for fmt, modules in RUNTIME_MODULES.items():
        for module_name in modules:
            try:
                module = __import__(module_name)
            except Exception as exc:  # noqa: BLE001 - a broken install is reported, not fatal
                runtimes.setdefault(fmt, {"found": False, "error": f"{module_name}: {type(exc).__name__}"})
                continue
            runtimes[fmt] = {"found": True, "module": module_name,
                             "version": _version(module) if _version(module) != "unknown"
                             else _package_version(module_name)}
            if fmt == "onnx":
                runtimes[fmt]["providers"] = list(module.get_available_providers())
            break
    return {"python": sys.version.split()[0], "numpy": np.__version__, "runtimes": runtimes,
            "tools": {tool: _which(tool) for tool in TOOLS}, "env": environment()}


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["doctor"]:
            result = doctor()
        elif argv[:1] == ["bench"] and len(argv) == 2:
            result = bench(json.loads(Path(argv[1]).read_text()))
        elif argv[:1] == ["probe"] and len(argv) in (4, 5):
            result = probe(argv[1], argv[2], int(argv[3]), *(argv[4:] or ["cpu"]))
        else:
            sys.stderr.write("usage: worker.py doctor | bench REQUEST.json | probe FILE FORMAT THREADS [PROVIDER]\n")
            return 2
    except Exception as exc:  # noqa: BLE001 - every failure goes back to edgekit as one line
        message = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        sys.stdout.write(MARKER + json.dumps({"error": f"{type(exc).__name__}: {message}"[:400]}) + "\n")
        return 2
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
