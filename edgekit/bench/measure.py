"""Latency and parity measurement of a loaded runtime session."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

MAX_RUNS = 20_000  # a --min-seconds run of a very fast model stops here (samples are kept in report.json)
ROUND = 5  # runs per side per round of interleaved timing


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
                min_seconds: float = 0.0, round_size: int = ROUND) -> list[tuple[list[float], float]]:
    """Warm every call up together, then time them in rounds of `round_size` runs, the order reversed every round
    (A B, B A, …) so drift hits all alike, until each has `runs` samples and `min_seconds` have passed (at most
    MAX_RUNS); returns each call's per-run milliseconds and process-CPU/wall ratio."""
    start, done = time.perf_counter(), 0
    while done < warmup or time.perf_counter() - start < warmup_seconds:
        for call in calls:
            call()
        done += 1
    samples: list[list[float]] = [[] for _ in calls]
    utils: list[list[float]] = [[] for _ in calls]
    order, start = 0, time.perf_counter()
    while (len(samples[0]) < runs or time.perf_counter() - start < min_seconds) and len(samples[0]) < max(runs,
                                                                                                          MAX_RUNS):
        k = min(round_size, runs - len(samples[0])) if len(samples[0]) < runs else round_size
        for i in (range(len(calls)) if order % 2 == 0 else reversed(range(len(calls)))):
            got, util = time_calls(calls[i], 0, k)
            samples[i].extend(got)
            utils[i].append(util)
        order += 1
    return [(s, float(np.mean(u))) for s, u in zip(samples, utils)]


def example_input(session, seed: int = 0) -> np.ndarray:
    """A random batch in the session's input shape (dynamic dimensions become 1)."""
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in session.input_shape]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def summarize(samples: list[float]) -> dict:
    """p50/p90/p99/mean/std/min of millisecond samples."""
    arr = np.asarray(samples, dtype=np.float64)
    pct = np.percentile(arr, [50, 90, 99])
    return {"p50": round(float(pct[0]), 4), "p90": round(float(pct[1]), 4), "p99": round(float(pct[2]), 4),
            "mean": round(float(arr.mean()), 4), "std": round(float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, 4),
            "min": round(float(arr.min()), 4)}


def measure_latency(session, x: np.ndarray, warmup: int, runs: int, device: str = "local",
                    warmup_seconds: float = 0.0, min_seconds: float = 0.0) -> dict:
    """Latency of one batch `x` through `session` at its thread count (see `time_calls` for the stopping rules)."""
    samples, cpu_util = time_calls(lambda: session.run(x), warmup, runs, warmup_seconds, min_seconds)
    return latency_record(samples, cpu_util, warmup, session.threads, device)


def latency_record(samples: list[float], cpu_util: float, warmup: int, threads: int, device: str = "local") -> dict:
    """The report.json `latency_ms` record of timed runs, per-run samples included (the gate tests them)."""
    return {**summarize(samples), "runs": len(samples), "warmup": warmup, "threads": threads, "device": device,
            "cpu_util": round(cpu_util, 3), "samples": [round(s, 4) for s in samples]}


def parity(outputs: np.ndarray, reference: np.ndarray, atol: float, rtol: float = 1e-4) -> dict:
    """Compare runtime logits with PyTorch's: pass when max |diff| <= atol + rtol·max|ref| (and all finite).

    A top-1 flip within that tolerance is necessarily a near-tie (margin <= 2·diff); it is reported in
    `top1_agreement`, not failed.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if outputs.shape != reference.shape:
        return {"max_abs_diff": None, "mean_abs_diff": None, "top1_agreement": 0.0, "n": int(reference.shape[0]),
                "passed": False, "tolerance": None, "error": f"output shape {outputs.shape} != {reference.shape}"}
    diff = np.abs(outputs - reference)
    max_diff = float(diff.max()) if diff.size else 0.0
    tolerance = atol + rtol * float(np.abs(reference).max())
    agree = outputs.argmax(1) == reference.argmax(1)
    passed = bool(np.isfinite(outputs).all() and max_diff <= tolerance)
    return {"max_abs_diff": float(f"{max_diff:.3e}"), "mean_abs_diff": float(f"{diff.mean():.3e}"),
            "top1_agreement": round(float(agree.mean()), 4), "n": int(len(reference)),
            "tolerance": float(f"{tolerance:.3e}"), "passed": passed}
