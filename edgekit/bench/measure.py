"""Latency and parity measurement of a loaded runtime session (the timing loops live in runtimes/worker.py, which
ssh devices run too)."""

from __future__ import annotations

import numpy as np

from edgekit.runtimes.worker import MAX_RUNS, ROUND, interleaved, time_calls
from edgekit.runtimes.worker import example_input as random_batch

__all__ = ["MAX_RUNS", "ROUND", "example_input", "fidelity", "interleaved", "latency_record", "measure_latency",
           "parity", "summarize", "time_calls"]

def example_input(session, seed: int = 0) -> np.ndarray:
    """A random batch in the session's input shape (dynamic dimensions become 1)."""
    return random_batch(session.input_shape, seed)


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
            "cpu_util": round(cpu_util, 3) if cpu_util is not None else None,
            "samples": [round(s, 4) for s in samples]}


def device_latency(timing, warmup: int, threads: int, device: str) -> dict:
    """The `latency_ms` record of a device's FileTiming: statistics of per-run samples; for per-round samples
    (benchmark_model over adb) p50 and the mean only, the rest named in `unavailable`, never estimated."""
    record = latency_record(timing.samples, timing.cpu_util, warmup, threads, device)
    extra: dict = {"cpus": timing.cpus}
    if timing.sample_kind != "per-run":  # percentiles of per-round values are not percentiles of runs
        record.update(p90=None, p99=None)
        extra["sample_kind"] = timing.sample_kind
    if timing.unavailable:
        extra["unavailable"] = list(timing.unavailable)
    if timing.notes:
        extra["notes"] = list(timing.notes)
    if timing.throttled:
        extra["throttled"] = True
    return {**record, **extra}


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


def fidelity(outputs: np.ndarray, reference: np.ndarray, tie_tolerance: float, min_agreement: float) -> dict:
    """Top-1 agreement of runtime logits with PyTorch's over a whole validation pass (the `Fidelity` record).

    A disagreement where PyTorch's own logits for the two classes lie within `tie_tolerance` of each other is a
    near-tie (any difference within the parity tolerance can flip it): counted and reported, but not failed.
    `passed` when the share of images that agree or are near-ties reaches `min_agreement` percent.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if outputs.shape != reference.shape or not len(reference):
        raise ValueError(f"fidelity needs two logit arrays of one shape, got {outputs.shape} and {reference.shape}")
    theirs, ours = outputs.argmax(1), reference.argmax(1)
    rows = np.flatnonzero(theirs != ours)
    margins = reference[rows, ours[rows]] - reference[rows, theirs[rows]]
    ties = int((margins <= tie_tolerance).sum()) if np.isfinite(outputs).all() else 0
    n = len(reference)
    agreement = 100.0 * (n - len(rows)) / n
    counted = 100.0 * (n - len(rows) + ties) / n
    return {"n": n, "agreement": round(agreement, 3), "disagreements": int(len(rows)), "near_ties": ties,
            "tie_tolerance": float(f"{tie_tolerance:.3e}"), "min_agreement": min_agreement,
            "passed": bool(np.isfinite(outputs).all() and counted >= min_agreement - 1e-9)}
