"""Latency and parity measurement of a loaded runtime session."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def time_calls(call: Callable[[], object], warmup: int, runs: int) -> tuple[list[float], float]:
    """Run `call` warmup+runs times; return per-run milliseconds and process-CPU/wall ratio."""
    for _ in range(warmup):
        call()
    samples = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return samples, cpu / wall if wall > 0 else float("nan")


def summarize(samples: list[float]) -> dict:
    """p50/p90/p99/mean/std/min of millisecond samples."""
    arr = np.asarray(samples, dtype=np.float64)
    pct = np.percentile(arr, [50, 90, 99])
    return {"p50": round(float(pct[0]), 4), "p90": round(float(pct[1]), 4), "p99": round(float(pct[2]), 4),
            "mean": round(float(arr.mean()), 4), "std": round(float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, 4),
            "min": round(float(arr.min()), 4)}


def measure_latency(session, x: np.ndarray, warmup: int, runs: int, device: str = "local") -> dict:
    """Latency of one batch `x` through `session` at its thread count."""
    samples, cpu_util = time_calls(lambda: session.run(x), warmup, runs)
    return {**summarize(samples), "runs": runs, "warmup": warmup, "threads": session.threads, "device": device,
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
