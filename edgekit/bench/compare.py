"""`edgekit bench`: time artifacts in their runtimes, optionally interleaved with a baseline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edgekit.bench.accuracy import evaluate, limited
from edgekit.bench.measure import summarize, time_calls
from edgekit.bench.stats import ratio_with_ci
from edgekit.errors import EdgekitError, not_yet
from edgekit.exporters import format_for_path
from edgekit.io import sha256_file
from edgekit.runtimes import open_session

ROUND = 5  # runs per side per A/B round


def check_device(device: str) -> None:
    if device != "local":
        if device.startswith(("adb:", "ssh:")):
            raise not_yet(f"--device {device} (remote devices)")
        raise EdgekitError(f"--device '{device}' is not one of local, adb:SERIAL, ssh:USER@HOST")


def _input_for(session, seed: int = 0) -> np.ndarray:
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in session.input_shape]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _load(path: Path, threads: int):
    format_for_path(path)
    start = time.perf_counter()
    session = open_session(path, threads=threads)
    return session, round((time.perf_counter() - start) * 1e3, 2)


def _entry(path: Path, session, load_ms: float, samples: list[float], cpu_util: float, threads: int, warmup: int) -> dict:
    return {"path": str(path), "format": format_for_path(path).name, "size_bytes": path.stat().st_size,
            "sha256": sha256_file(path), "load_ms": load_ms,
            "latency_ms": {**summarize(samples), "runs": len(samples), "warmup": warmup, "threads": threads,
                           "device": "local", "cpu_util": round(cpu_util, 3)},
            "runtime_versions": session.versions()}


def bench(paths: list[Path], threads: int, runs: int, warmup: int, baseline: Path | None,
          data: str | None, eval_samples: int | None) -> dict:
    """Measure each artifact; with a baseline, interleave A/B rounds and report ratio with a CI."""
    for path in [*paths, *([baseline] if baseline else [])]:
        format_for_path(path)
        if not Path(path).is_file():
            raise EdgekitError(f"artifact '{path}' does not exist")
    results, comparisons = [], []
    base = _load(baseline, threads) if baseline else None
    for path in paths:
        session, load_ms = _load(path, threads)
        x = _input_for(session)
        if base is None:
            samples, cpu_util = time_calls(lambda: session.run(x), warmup, runs)
        else:
            samples, base_samples, cpu_util = _interleaved(session, base[0], x, _input_for(base[0]), warmup, runs)
            comparisons.append({"candidate": str(path), "baseline": str(baseline),
                                "candidate_p50": summarize(samples)["p50"], "baseline_p50": summarize(base_samples)["p50"],
                                **ratio_with_ci(samples, base_samples)})
        entry = _entry(path, session, load_ms, samples, cpu_util, threads, warmup)
        if data is not None:
            entry["accuracy"] = _accuracy(session, path, data, eval_samples)
        results.append(entry)
    return {"results": results, "comparisons": comparisons}


def _interleaved(cand, base, x_cand, x_base, warmup: int, runs: int):
    for _ in range(warmup):
        cand.run(x_cand)
        base.run(x_base)
    cand_samples, base_samples, cpu = [], [], []
    order = 0
    while len(cand_samples) < runs:
        k = min(ROUND, runs - len(cand_samples))
        pair = [(cand, x_cand, cand_samples), (base, x_base, base_samples)]
        for session, x, bucket in (pair if order % 2 == 0 else pair[::-1]):  # ABBA ordering
            samples, util = time_calls(lambda: session.run(x), 0, k)
            bucket.extend(samples)
            cpu.append(util)
        order += 1
    return cand_samples, base_samples, float(np.mean(cpu))


def _accuracy(session, path: Path, data: str, eval_samples: int | None) -> dict | None:
    from edgekit.data import load_data
    from edgekit.models.build import Preprocessing

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
