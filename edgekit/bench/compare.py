"""`edgekit bench`: time artifacts in their runtimes, optionally interleaved with a baseline.

Each file is first loaded and run in a child process (edgekit.bench.isolated: cold start, peak memory; a crashing
runtime cannot take edgekit down), then timed here: warm-up by count and time, runs by count and minimum time, on
the CPUs given by --cpus. With a baseline, candidate and baseline alternate in A B B A rounds so drift hits both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgekit.bench.accuracy import evaluate, limited
from edgekit.bench.cpus import pinned
from edgekit.bench.environment import environment
from edgekit.bench.isolated import probe
from edgekit.bench.measure import example_input, interleaved, latency_record, time_calls
from edgekit.bench.stats import mann_whitney, ratio_with_ci
from edgekit.core.errors import EdgekitError, not_yet
from edgekit.core.formats import format_for_path
from edgekit.core.io import sha256_file
from edgekit.runtimes import open_session


def check_device(device: str) -> None:
    if device != "local":
        if device.startswith(("adb:", "ssh:")):
            raise not_yet(f"--device {device} (remote devices)")
        raise EdgekitError(f"--device '{device}' is not one of local, adb:SERIAL, ssh:USER@HOST")


def _entry(path: Path, session, cold: dict, latency: dict) -> dict:
    return {"path": str(path), "format": format_for_path(path).name, "size_bytes": path.stat().st_size,
            "sha256": sha256_file(path), "load_ms": cold["load_ms"], "cold_start": cold, "latency_ms": latency,
            "runtime_versions": session.versions()}


def bench(paths: list[Path], threads: int, runs: int, warmup: int, baseline: Path | None,
          data: str | None, eval_samples: int | None, *, warmup_seconds: float = 0.0, min_seconds: float = 0.0,
          cpus: list[int] | None = None) -> dict:
    """Measure each artifact; with a baseline, interleave A/B rounds and report ratio with a CI."""
    paths = [Path(p) for p in paths]
    baseline = Path(baseline) if baseline else None
    everything = [*paths, *([baseline] if baseline else [])]
    for path in everything:
        format_for_path(path)
        if not path.is_file():
            raise EdgekitError(f"artifact '{path}' does not exist")
    settings = {"threads": threads, "runs": runs, "warmup": warmup, "warmup_seconds": warmup_seconds,
                "min_seconds": min_seconds}
    results, comparisons = [], []
    with pinned(cpus) as used:
        cold = {path: probe(path, format_for_path(path).name, threads) for path in dict.fromkeys(everything)}
        base = open_session(baseline, threads=threads) if baseline else None
        for path in paths:
            session = open_session(path, threads=threads)
            x = example_input(session)
            if base is None:
                samples, cpu_util = time_calls(lambda: session.run(x), warmup, runs, warmup_seconds, min_seconds)
            else:
                xb = example_input(base)
                (samples, cpu_util), (base_samples, base_util) = interleaved(
                    [lambda: session.run(x), lambda: base.run(xb)], warmup, runs, warmup_seconds=warmup_seconds,
                    min_seconds=min_seconds)
                comparisons.append(_comparison(path, baseline, samples, base_samples, base_util, warmup, threads,
                                               used))
            latency = {**latency_record(samples, cpu_util, warmup, threads), "cpus": used}
            entry = _entry(path, session, cold[path], latency)
            if data is not None:
                entry["accuracy"] = _accuracy(session, path, data, eval_samples)
            results.append(entry)
        if base is not None:
            for c in comparisons:
                c["baseline_cold_start"] = cold[baseline]
    return {"results": results, "comparisons": comparisons, "settings": {**settings, "cpus": used},
            "env": environment(threads)}


def _comparison(path, baseline, samples, base_samples, base_util, warmup, threads, used) -> dict:
    p_slower, p_faster = mann_whitney(np.log(samples), np.log(base_samples))
    return {"candidate": str(path), "baseline": str(baseline),
            "candidate_p50": round(float(np.median(samples)), 4), "baseline_p50": round(float(np.median(base_samples)), 4),
            **ratio_with_ci(samples, base_samples),
            "mann_whitney": {"p_slower": float(f"{p_slower:.3g}"), "p_faster": float(f"{p_faster:.3g}")},
            "baseline_latency_ms": {**latency_record(base_samples, base_util, warmup, threads), "cpus": used}}


def _accuracy(session, path: Path, data: str, eval_samples: int | None) -> dict | None:
    from edgekit.data import load_data

    prep, note = _preprocessing_near(path)
    size = int(session.input_shape[-1])
    bundle = load_data(data, size, prep, None, 0)
    result = evaluate(session.run, limited(bundle.val, eval_samples), bundle.name, label=f"accuracy {path.name}")
    if result is not None and note:
        result["note"] = note
    return result


def _preprocessing_near(path: Path):
    """Normalisation from the run directory's model.json, else ImageNet defaults (said so in the result)."""
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    from edgekit.models.build import Preprocessing, create, preprocessing
    from edgekit.models.checkpoint import read_description
    from edgekit.models.zoo import resolve

    for candidate in (path.parent / "model", path.parent.parent / "model", path.parent):
        if (candidate / "model.json").is_file():
            import torch

            description, _ = read_description(candidate)
            with torch.device("meta"):
                return preprocessing(create(resolve(description.model), 10, description.img_size)), None
    return (Preprocessing(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, "bilinear", 0.875),
            "no model.json beside the artifact: ImageNet mean/std assumed")


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2)
