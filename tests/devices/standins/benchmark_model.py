"""A stand-in for LiteRT's `benchmark_model` binary, for tests: run as `python benchmark_model.py --graph=m.tflite ...`.

It really loads the .tflite file with `ai_edge_litert.interpreter.Interpreter(num_threads=...)`, feeds random
inputs as the real tool does, runs the warm-up and timed phases with the real stopping rules (at least N runs
AND at least S seconds, never starting a run after max_secs) and prints what the real tool prints, in the same
order and on the same streams (tflite/tools/benchmark/benchmark_model.cc and tsl's stats_calculator.h):

* ``EDGEKIT_STANDIN_STYLE=litert`` (default): ``INFO: ``/``WARN: `` on stdout, ``ERROR: `` on stderr, stats
  lines with `` p5= median= p95=``, the "Note: ..." line before the memory line.
* ``EDGEKIT_STANDIN_STYLE=tf2019``: the TF-era tool: no prefixes (INFO/WARN on stdout, ERROR on stderr), plain
  stats lines without percentiles, no "Note:" line.

Known flags: --graph --num_threads --use_xnnpack --num_runs --warmup_runs --min_secs --warmup_min_secs --max_secs
--run_delay --report_peak_memory_footprint --memory_footprint_check_interval_ms --verbose. Flags must be
``--name=value`` like the real tool's parser; anything else is reported as "Unconsumed cmdline flags". Lines the
native LiteRT library prints itself (e.g. "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") come from the
library, not from this script. Not modelled: op profiling, delegates other than XNNPACK, --run_frequency.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import threading
import time

STYLE = os.environ.get("EDGEKIT_STANDIN_STYLE", "litert")
if STYLE not in ("litert", "tf2019"):
    sys.exit(f"EDGEKIT_STANDIN_STYLE must be 'litert' or 'tf2019', not {STYLE!r}")

# name: (type, default, description as LogParams prints it)
FLAGS = {
    "num_runs": (int, 50, "Min num runs"),
    "min_secs": (float, 1.0, "Min runs duration (seconds)"),
    "max_secs": (float, 150.0, "Max runs duration (seconds)"),
    "run_delay": (float, -1.0, "Inter-run delay (seconds)"),
    "num_threads": (int, -1, "Num threads"),
    "warmup_runs": (int, 1, "Min warmup runs"),
    "warmup_min_secs": (float, 0.5, "Min warmup runs duration (seconds)"),
    "verbose": (bool, False, None),
    "report_peak_memory_footprint": (bool, False, "Report the peak memory footprint"),
    "memory_footprint_check_interval_ms": (int, 50, "Memory footprint check interval (ms)"),
    "graph": (str, "", "Graph"),
    "use_xnnpack": (bool, False, "Use xnnpack"),
}


def log(severity: str, message: str = "") -> None:
    """TFLITE_LOG: INFO/WARN to stdout, ERROR to stderr; prefixed in the LiteRT style only."""
    stream = sys.stderr if severity == "ERROR" else sys.stdout
    prefix = f"{severity}: " if STYLE == "litert" else ""
    stream.write(f"{prefix}{message}\n")
    stream.flush()


def fmt(value: float) -> str:
    """A double as C++ ostream prints it by default (6 significant digits, like %g)."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:g}"


def parse_flags(argv: list[str]) -> tuple[dict, set[str], list[str]] | None:
    values = {name: spec[1] for name, spec in FLAGS.items()}
    given: set[str] = set()
    unconsumed: list[str] = []
    ok = True
    for arg in argv:
        name, sep, raw = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if not sep or name not in FLAGS:
            unconsumed.append(arg)
            continue
        kind = FLAGS[name][0]
        try:
            if kind is bool:
                if raw not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                value = raw in ("true", "1")
            else:
                value = kind(raw)
        except ValueError:
            log("ERROR", f"Failed to parse flag '{name}' against argv '{arg}'")
            ok = False
            continue
        values[name] = value
        given.add(name)
    if not ok:
        usage = "\n".join(f"\t--{name}={spec[1]}\t{spec[0].__name__}\toptional" for name, spec in FLAGS.items())
        log("ERROR", f"usage: {sys.argv[0]}\nFlags:\n{usage}")
        return None
    return values, given, unconsumed


def log_params(values: dict, given: set[str]) -> None:
    verbose = values["verbose"]
    log("INFO", f"Log parameter values verbosely: [{int(verbose)}]")
    for name in ("num_runs", "min_secs", "max_secs", "run_delay", "num_threads", "warmup_runs", "warmup_min_secs",
                 "report_peak_memory_footprint", "memory_footprint_check_interval_ms"):
        if verbose or name in given:
            value = values[name]
            shown = int(value) if isinstance(value, bool) else fmt(value) if isinstance(value, float) else value
            log("INFO", f"{FLAGS[name][2]}: [{shown}]")
    log("INFO", f"Graph: [{values['graph']}]")
    if STYLE == "litert":
        log("INFO", "Signature to run: []")
    if verbose or "num_threads" in given:
        log("INFO", f"#threads used for CPU inference: [{values['num_threads']}]")
    if verbose or "use_xnnpack" in given:
        log("INFO", f"Use xnnpack: [{int(values['use_xnnpack'])}]")


class Stat:
    """tsl::StatWithPercentiles<int64_t>: what it keeps and how OutputToStream prints it."""

    def __init__(self):
        self.values: list[int] = []

    def add(self, us: int) -> None:
        self.values.append(us)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def first(self) -> int:
        return self.values[0] if self.values else 0

    def avg(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan

    def std(self) -> int:
        if not self.values or min(self.values) == max(self.values):
            return 0
        mean = self.avg()
        variance = int(sum(v * v for v in self.values) / len(self.values) - mean * mean)  # int64, truncated
        return int(math.sqrt(max(variance, 0)))

    def percentile(self, p: int) -> int:
        if not self.values:
            return 0  # numeric_limits<int64_t>::quiet_NaN() is 0
        ordered = sorted(self.values)
        return ordered[-1] if p == 100 else ordered[len(ordered) * p // 100]

    def line(self) -> str:
        values = self.values
        if not values:
            text = "count=0"
        elif min(values) == max(values):
            text = f"count={len(values)} curr={values[-1]}" + ("(all same)" if len(values) > 1 else "")
        else:
            text = (f"count={len(values)} first={values[0]} curr={values[-1]} min={min(values)} max={max(values)} "
                    f"avg={fmt(self.avg())} std={self.std()}")
        if STYLE == "litert":
            text += f" p5={self.percentile(5)} median={self.percentile(50)} p95={self.percentile(95)}"
        return text


def now_us() -> int:
    return time.perf_counter_ns() // 1000


def run_phase(invoke, min_runs: int, min_secs: float, max_secs: float, run_delay: float) -> Stat:
    """BenchmarkModel::Run: the loop and its stopping rule, then the stats line and an empty line."""
    log("INFO", f"Running benchmark for at least {min_runs} iterations and at least {fmt(min_secs)} seconds but "
                f"terminate if exceeding {fmt(max_secs)} seconds.")
    stat = Stat()
    now = now_us()
    min_finish, max_finish = now + int(min_secs * 1e6), now + int(max_secs * 1e6)
    run = 0
    while (run < min_runs or now < min_finish) and now <= max_finish:
        start = now_us()
        invoke()
        stat.add(now_us() - start)
        if run_delay > 0:
            time.sleep(run_delay)
        now = now_us()
        run += 1
    log("INFO", stat.line() + "\n")
    return stat


def footprint_kb() -> int:
    """What tflite::profiling::memory::GetMemoryUsage reports on Linux: the process's max RSS in KB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class PeakMonitor:
    """MemoryUsageMonitor: a thread that samples the footprint every `interval_ms` and keeps the largest."""

    def __init__(self, interval_ms: int):
        self.interval = max(interval_ms, 1) / 1000.0
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, footprint_kb())
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, footprint_kb())
        return self.peak_kb / 1024.0


def load(path: str, threads: int, use_xnnpack: bool, explicit_xnnpack: bool):
    """The interpreter, or None after printing the real tool's errors."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        log("ERROR", f"Could not open '{path}'.")
        log("ERROR", f"Failed to load model {path}")
        return None
    resolver = OpResolverType.AUTO if use_xnnpack or not explicit_xnnpack \
        else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:  # -1 lets the runtime choose, as in the real tool
        interpreter = Interpreter(model_path=path, num_threads=threads if threads > 0 else None,
                                  experimental_op_resolver_type=resolver)
    except (ValueError, RuntimeError) as exc:
        log("ERROR", "The model is not a valid Flatbuffer buffer" if "odel" in str(exc) else str(exc).strip())
        log("ERROR", f"Failed to load model {path}")
        return None
    log("INFO", f"Loaded model {path}")
    if explicit_xnnpack and use_xnnpack:
        log("INFO", "XNNPACK delegate created.")
    try:
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError):
        log("ERROR", "Failed to allocate tensors!")
        return None
    if explicit_xnnpack and use_xnnpack:
        kernels = sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())  # noqa: SLF001
        if kernels == 1:
            log("INFO", "Explicitly applied XNNPACK delegate, and the model graph will be completely executed by "
                        "the delegate.")
        elif kernels > 1:
            log("INFO", f"Explicitly applied XNNPACK delegate, and the model graph will be partially executed by "
                        f"the delegate w/ {kernels} delegate kernels.")
        else:
            log("INFO", "Though XNNPACK delegate is explicitly applied, the model graph will not be executed by "
                        "the delegate.")
    return interpreter


def random_inputs(interpreter) -> None:
    """Fill every input with random data in its dtype, as the real tool does."""
    import numpy as np

    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype, shape = np.dtype(detail["dtype"]), tuple(detail["shape"])
        if dtype.kind == "f":
            data = rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            data = rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(dtype)
        else:
            data = rng.integers(0, 2, size=shape).astype(dtype)
        interpreter.set_tensor(detail["index"], data)


def main(argv: list[str]) -> int:
    log("INFO", "STARTING!")
    parsed = parse_flags(argv)
    if parsed is None:
        log("ERROR", "Benchmarking failed.")
        return 1
    values, given, unconsumed = parsed
    if unconsumed:
        log("WARN", "Unconsumed cmdline flags: " + " ".join(unconsumed))
    if not values["graph"]:
        log("ERROR", "Please specify the name of your TF Lite input file with --graph")
        log("ERROR", "Benchmarking failed.")
        return 1
    log_params(values, given)

    monitor = PeakMonitor(values["memory_footprint_check_interval_ms"]) \
        if values["report_peak_memory_footprint"] else None
    if monitor:
        monitor.start()
    path = values["graph"]
    size_mb = os.path.getsize(path) / 1e6 if os.path.isfile(path) else 0.0
    start_kb, init_start = footprint_kb(), now_us()
    interpreter = load(path, values["num_threads"], values["use_xnnpack"], "use_xnnpack" in given)
    if interpreter is None:
        if monitor:
            monitor.stop()
        log("ERROR", "Benchmarking failed.")
        return 1
    init_us, init_kb = now_us() - init_start, footprint_kb() - start_kb
    if size_mb > 0:
        log("INFO", f"The input model file size (MB): {fmt(size_mb)}")
    else:
        log("WARN", "Failed to get the input model file size.")
    log("INFO", f"Initialized session in {fmt(init_us / 1e3)}ms.")
    random_inputs(interpreter)

    warmup = run_phase(interpreter.invoke, values["warmup_runs"], values["warmup_min_secs"], values["max_secs"],
                       values["run_delay"])
    timed = run_phase(interpreter.invoke, values["num_runs"], values["min_secs"], values["max_secs"],
                      values["run_delay"])
    overall_kb = footprint_kb() - start_kb
    peak_mb = monitor.stop() if monitor else -1.0

    log("INFO", f"Inference timings in us: Init: {init_us}, First inference: {warmup.first}, "
                f"Warmup (avg): {fmt(warmup.avg())}, Inference (avg): {fmt(timed.avg())}")
    if STYLE == "litert":
        log("INFO", "Note: as the benchmark tool itself affects memory footprint, the following is only "
                    "APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at "
                    "your discretion.")
    log("INFO", f"Memory footprint delta from the start of the tool (MB): init={fmt(init_kb / 1024.0)} "
                f"overall={fmt(overall_kb / 1024.0)}")
    if peak_mb > 0:
        log("INFO", f"Overall peak memory footprint (MB) via periodic monitoring: {fmt(peak_mb)}")
        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm") as statm:
            _, rss, shared = (int(v) for v in statm.read().split()[:3])
        rss_mb, shared_mb = rss * page >> 20, shared * page >> 20
        log("INFO", "Memory status at the end of exeution:")
        log("INFO", f"- VmRSS              : {rss_mb} MB")
        log("INFO", f"+ RssAnnon           : {rss_mb - shared_mb} MB")
        log("INFO", f"+ RssFile + RssShmem : {shared_mb} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
