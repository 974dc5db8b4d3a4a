#!/usr/bin/env python3
"""A stand-in for TensorRT's `trtexec` (10.x or 11.x), for tests on machines without a GPU.

Select the version with EDGEKIT_FAKE_TRT (default "10.3.0"; e.g. "11.1.0"). It prints what trtexec prints, in
the formats of NVIDIA/TensorRT samples/common (logging.h banner and prefixes, sampleOptions.cpp option banner,
sampleReporting.cpp summary and --exportTimes JSON), with made-up but self-consistent timings:

* no arguments or --help: banner + help text, exit 0;
* options the selected version does not know (11.x: --fp16, --int8, --best, --calib, ...; 10.x:
  --includeDataTransfers) print the help, then `[E] Unknown option: --fp16 ` on stderr, exit 1 (trtexec.cpp
  parseArgs), with no &&&& FAILED line;
* --onnx + --saveEngine writes a fake engine (JSON) naming the version, precision and shapes;
* --loadEngine refuses an engine of another version, then "runs" it: a synthetic trace, the performance summary
  and, with --exportTimes, the per-query JSON (warm-up queries left out, as 8.5+ does).
Standard library only.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time

VERSION = tuple(int(p) for p in os.environ.get("EDGEKIT_FAKE_TRT", "10.3.0").split(".")[:3])
MAJOR = VERSION[0]
CODE = VERSION[0] * 10000 + VERSION[1] * 100 + VERSION[2]
NAME = f"TensorRT.trtexec [TensorRT v{CODE}]" + (" [b106]" if VERSION >= (10, 8) else "")

COMMON = {"--onnx", "--saveEngine", "--loadEngine", "--minShapes", "--optShapes", "--maxShapes", "--shapes",
          "--skipInference", "--warmUp", "--duration", "--iterations", "--percentile", "--exportTimes",
          "--useDLACore", "--allowGPUFallback", "--avgRuns", "--verbose", "--noTF32", "--stronglyTyped",
          "--memPoolSize", "--timingCacheFile", "--useSpinWait", "--noCudaGraph"}
KNOWN = COMMON | ({"--includeDataTransfers", "--noDataTransfers", "--useCudaGraph"} if MAJOR >= 11 else
                  {"--fp16", "--int8", "--best", "--bf16", "--fp8", "--calib", "--noDataTransfers", "--useCudaGraph",
                   "--buildOnly"})
DEPRECATED_11 = {"--noDataTransfers": "--noDataTransfers is deprecated. Data transfers are now disabled by default. "
                                      "Use --includeDataTransfers to re-enable data transfers.",
                 "--useCudaGraph": "--useCudaGraph is deprecated. CUDA graph is now enabled by default. "
                                   "Use --noCudaGraph to disable CUDA graph."}


def stamp() -> str:
    return time.strftime("[%m/%d/%Y-%H:%M:%S] ")


def log(severity: str, message: str = "") -> None:
    stream = sys.stderr if severity in "EF" else sys.stdout
    stream.write(f"{stamp()}[{severity}] {message}\n")


def g(x: float) -> str:
    """C++ ostream's default float format (6 significant digits)."""
    return f"{x:.6g}"


def help_text() -> None:
    print("=== Model Options ===")
    print("  --onnx=<file>               ONNX model")
    print("")
    print("=== Build Options ===")
    print("  --minShapes=spec            Build with dynamic shapes using a profile with the min shapes provided")
    if MAJOR < 11:
        print("  --fp16                      Enable fp16 precision, in addition to fp32 (default = disabled)")
        print("  --int8                      Enable int8 precision, in addition to fp32 (default = disabled)")
    print("  --saveEngine=<file>         Save the serialized engine")
    print("=== Inference Options ===")
    print("  --shapes=spec               Set input shapes for inference inputs.")
    if MAJOR >= 11:
        print("  --includeDataTransfers      Enable DMA transfers to and from device (default = disabled).")


def parse(argv: list[str]) -> dict[str, str]:
    args = {}
    for arg in argv:
        key, _, value = arg.partition("=")
        args[key] = value
    return args


def shape_of(spec: str) -> tuple[str, list[int]]:
    name, _, dims = spec.rpartition(":")
    return name, [int(d) for d in dims.split("x")]


def percentile(values: list[float], p: float) -> float:
    """sampleReporting.cpp findPercentile on sorted values."""
    exclude = int((1 - p / 100) * len(values))
    return values[max(len(values) - 1 - exclude, 0)]


def median(values: list[float]) -> float:
    m = len(values) // 2
    return values[m] if len(values) % 2 else (values[m - 1] + values[m]) / 2


def perf(values: list[float], percentiles: list[float]) -> str:
    s = sorted(values)
    text = (f"min = {g(s[0])} ms, max = {g(s[-1])} ms, mean = {g(sum(s) / len(s))} ms, "
            f"median = {g(median(s))} ms")
    return text + "".join(f", percentile({g(p)}%) = {g(percentile(s, p))} ms" for p in percentiles)


def build(args: dict[str, str]) -> int:
    onnx = args["--onnx"]
    log("I", f"TensorRT version: {VERSION[0]}.{VERSION[1]}.{VERSION[2]}")
    if not os.path.isfile(onnx):
        log("E", f"Cannot open ONNX file: {onnx}")
        log("E", "Failed to parse onnx file")
        log("E", "Engine set up failed")
        print(f"&&&& FAILED {NAME} # trtexec {' '.join(sys.argv[1:])}")
        return 1
    precision = "int8" if "--int8" in args else "fp16" if "--fp16" in args else "typed" if MAJOR >= 11 else "fp32"
    shape = args.get("--optShapes", "")
    log("I", "Start parsing network model.")
    log("I", "Finished parsing network model. Parse time: 0.0213")
    if "--int8" in args and MAJOR == 10:
        log("W", "[TRT] Calibrator won't be used in explicit precision mode. Use quantization aware training to "
                 "generate network with Quantize/Dequantize nodes.")
    engine = {"fake_trt": list(VERSION), "precision": precision, "shape": shape, "onnx": os.path.basename(onnx),
              "dla": args.get("--useDLACore")}
    if "--saveEngine" in args:
        with open(args["--saveEngine"], "w") as f:
            json.dump(engine, f)
        log("I", "Engine built in 1.2345 sec.")
        log("I", f"Saved engine to {args['--saveEngine']}")
    if "--skipInference" in args or "--buildOnly" in args:
        log("I", "Skipped inference phase since --skipInference is added.")
        print(f"&&&& PASSED {NAME} # trtexec {' '.join(sys.argv[1:])}")
        return 0
    return infer(args, engine)


def load(args: dict[str, str]) -> int:
    path = args["--loadEngine"]
    log("I", f"TensorRT version: {VERSION[0]}.{VERSION[1]}.{VERSION[2]}")
    try:
        with open(path) as f:
            engine = json.load(f)
    except (OSError, ValueError):
        log("E", f"Error opening engine file: {path}")
        log("E", "Engine set up failed")
        print(f"&&&& FAILED {NAME} # trtexec {' '.join(sys.argv[1:])}")
        return 1
    if tuple(engine.get("fake_trt", ())) != VERSION:
        log("E", "Error[1]: IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion "
                 "stdVersionRead == kSERIALIZATION_VERSION failed.Version tag does not match.)")
        log("E", "Engine deserialization failed")
        print(f"&&&& FAILED {NAME} # trtexec {' '.join(sys.argv[1:])}")
        return 1
    return infer(args, engine)


def infer(args: dict[str, str], engine: dict) -> int:
    batch = shape_of(args["--shapes"])[1][0] if args.get("--shapes") else 1
    warmup = float(args.get("--warmUp", 200))
    duration = float(args.get("--duration", 3))
    iterations = int(args.get("--iterations", 10))
    percentiles = [float(p) for p in args.get("--percentile", "90,95,99").split(",") if p]
    transfers = "--includeDataTransfers" in args if MAJOR >= 11 else "--noDataTransfers" not in args
    print(f"{stamp()}[I] === Inference Options ===")
    print(f"{stamp()}[I] Iterations: {iterations}")
    print(f"{stamp()}[I] Duration: {g(duration)}s (+ {g(warmup)}ms warm up)")
    print(f"{stamp()}[I] Data transfers: {'Enabled' if transfers else 'Disabled'}")
    print(f"{stamp()}[I] CUDA Graph: {'Enabled' if MAJOR >= 11 and '--noCudaGraph' not in args else 'Disabled'}")
    base = {"fp32": 2.0, "fp16": 1.0, "int8": 0.7, "typed": 1.5}[engine["precision"]] * batch ** 0.8
    rng = random.Random(batch * 1000 + len(engine["precision"]))
    trace, clock = [], 0.0
    # enough queries to cover warm-up + duration, and at least `iterations` timed ones (capped to stay quick)
    while len(trace) < 5000 and (clock < warmup + duration * 1000 or
                                 sum(1 for t in trace if t["startComputeMs"] >= warmup) < iterations):
        h2d = 0.05 * batch if transfers else 0.0
        d2h = 0.01 if transfers else 0.0
        compute = base * (1 + 0.02 * rng.random()) + (0.3 * base if rng.random() < 0.01 else 0.0)
        t = {"startEnqMs": clock, "endEnqMs": clock + 0.05, "startH2dMs": clock, "endH2dMs": clock + h2d,
             "startComputeMs": clock + h2d, "endComputeMs": clock + h2d + compute,
             "startD2hMs": clock + h2d + compute, "endD2hMs": clock + h2d + compute + d2h,
             "h2dMs": h2d, "computeMs": compute, "d2hMs": d2h, "latencyMs": h2d + compute + d2h}
        trace.append(t)
        clock = t["endD2hMs"] + 0.002
    warmups = sum(1 for t in trace if t["startComputeMs"] < warmup)
    timed = trace[warmups:]
    wall = timed[-1]["endD2hMs"] - timed[0]["startH2dMs"]
    log("I", "Starting inference")
    log("I", f"Warmup completed {warmups} queries over {g(warmup)} ms")
    log("I", f"Timing trace has {len(timed)} queries over {g(wall / 1000)} s")
    log("I", "")
    log("I", "=== Performance summary ===")
    log("I", f"Throughput: {g(len(timed) / wall * 1000)} qps")
    for name, key in (("Latency", "latencyMs"), ("Enqueue Time", None), ("H2D Latency", "h2dMs"),
                      ("GPU Compute Time", "computeMs"), ("D2H Latency", "d2hMs")):
        values = [0.05 for _ in timed] if key is None else [t[key] for t in timed]
        log("I", f"{name}: {perf(values, percentiles)}")
    log("I", f"Total Host Walltime: {g(wall / 1000)} s")
    log("I", f"Total GPU Compute Time: {g(sum(t['computeMs'] for t in timed) / 1000)} s")
    compute = sorted(t["computeMs"] for t in timed)
    mean = sum(compute) / len(compute)
    cv = math.sqrt(sum((c - mean) ** 2 for c in compute) / len(compute)) / mean * 100
    if cv > 2.5:
        log("W", f"* GPU compute time is unstable, with coefficient of variance = {g(cv)}%.")
        log("W", "  If not already in use, locking GPU clock frequency or adding --useSpinWait may improve the "
                 "stability.")
    log("I", "Explanations of the performance metrics are printed in the verbose logs.")
    if args.get("--exportTimes"):
        with open(args["--exportTimes"], "w") as f:
            f.write("[\n")
            for i, t in enumerate(timed):
                f.write(("  { " if i == 0 else ", { ") + ", ".join(f'"{k}" : {g(v)}' for k, v in t.items()) + " }\n")
            f.write("]\n")
    print(f"&&&& PASSED {NAME} # trtexec {' '.join(sys.argv[1:])}")
    return 0


def main(argv: list[str]) -> int:
    print(f"&&&& RUNNING {NAME} # trtexec {' '.join(argv)}")
    if not argv or "--help" in argv or "-h" in argv:
        help_text()
        return 0
    args = parse(argv)
    unknown = [key for key in args if key not in KNOWN]
    if unknown:
        help_text()
        for key in unknown:
            log("E", f"Unknown option: {key} {args[key]}")
        return 1
    for key in args:
        if MAJOR >= 11 and key in DEPRECATED_11:
            log("W", DEPRECATED_11[key])
    if "--onnx" in args:
        return build(args)
    if "--loadEngine" in args:
        return load(args)
    log("E", "Model missing or format not recognized")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
