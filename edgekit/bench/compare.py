"""`edgekit bench`: time artifacts in their runtimes, optionally interleaved with a baseline.

Each file is first loaded and run in a child process (edgekit.runtimes.isolated: cold start, peak memory; a crashing
runtime cannot take edgekit down), then timed here: warm-up by count and time, runs by count and minimum time, on
the CPUs given by --cpus. With a baseline, candidate and baseline alternate in rounds
(edgekit.runtimes.worker.interleaved) so drift hits both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgekit.bench.accuracy import accuracy_of, limited, stacked
from edgekit.bench.measure import device_latency, parity
from edgekit.bench.stats import mann_whitney, ratio_with_ci
from edgekit.core.errors import EdgekitError
from edgekit.core.formats import format_for_path
from edgekit.core.io import sha256_file
from edgekit.devices import Device, FileTiming, TimingRequest, open_device
from edgekit.runtimes import open_session

#: validation images sent to a remote device when --eval-samples is not given: 1000, or fewer at large sizes
REMOTE_EVAL_SAMPLES = 1000
REMOTE_EVAL_BYTES = 200e6


def remote_eval_samples(img_size: int, asked: int | None) -> int:
    """How many validation images go to a remote device: as asked, else 1000 capped at about 200 MB of images."""
    return asked or max(1, min(REMOTE_EVAL_SAMPLES, int(REMOTE_EVAL_BYTES // (3 * img_size * img_size * 4))))


def _entry(timing: FileTiming, latency: dict) -> dict:
    path = timing.path
    return {"path": str(path), "format": timing.format, "size_bytes": path.stat().st_size,
            "sha256": sha256_file(path), "load_ms": (timing.cold_start or {}).get("load_ms"),
            "cold_start": timing.cold_start, "latency_ms": latency, "runtime_versions": timing.versions,
            **({"notes": timing.notes} if timing.notes else {})}


def bench(paths: list[Path], threads: int, runs: int, warmup: int, baseline: Path | None,
          data: str | None, eval_samples: int | None, *, warmup_seconds: float = 0.0, min_seconds: float = 0.0,
          cpus: list[int] | None = None, device: Device | None = None, provider: str | None = None) -> dict:
    """Measure each artifact on `device` (this host by default); with a baseline, interleave A/B rounds and report
    the ratio with a CI; with data, top-1 through the file on the device."""
    paths = [Path(p) for p in paths]
    baseline = Path(baseline) if baseline else None
    device = device or open_device("local")
    everything = [*paths, *([baseline] if baseline else [])]
    for path in everything:
        format_for_path(path)
        if not path.is_file():
            raise EdgekitError(f"artifact '{path}' does not exist")
    device.check_formats([format_for_path(p).name for p in everything])
    if provider and any(format_for_path(p).name != "onnx" for p in everything):
        raise EdgekitError(f"--runtime ort-{provider} times .onnx files only (onnxruntime's {provider} provider)")
    request = TimingRequest(threads=threads, runs=runs, warmup=warmup, warmup_seconds=warmup_seconds,
                            min_seconds=min_seconds, cpus=cpus, runtime=provider)
    settings = {"threads": threads, "runs": runs, "warmup": warmup, "warmup_seconds": warmup_seconds,
                "min_seconds": min_seconds, "device": device.label}
    results, comparisons = [], []
    with device.session():
        base_timing = None
        for path in paths:
            files = [(path, format_for_path(path).name)] + ([(baseline, format_for_path(baseline).name)]
                                                             if baseline else [])
            images, labels, dataset, note = validation_arrays(path, data, eval_samples, device)
            timed = device.time_files(files, request, images=images)
            timing = timed[0]
            latency = _latency(timing, warmup, threads, device.label)
            if baseline is not None:
                base_timing = timed[1]
                comparisons.append(_comparison(path, baseline, timing, base_timing, warmup, threads, device.label))
                if data is not None:
                    comparisons[-1]["baseline_accuracy"] = on_device_accuracy(base_timing, images, labels, dataset,
                                                                              baseline, device, note)
            entry = _entry(timing, latency)
            if data is not None:
                entry["accuracy"] = on_device_accuracy(timing, images, labels, dataset, path, device, note)
            results.append(entry)
        if base_timing is not None:
            for c in comparisons:
                c["baseline_cold_start"] = base_timing.cold_start
        env = device.environment()
    out = {"results": results, "comparisons": comparisons,
           "settings": {**settings, "cpus": results[0]["latency_ms"]["cpus"] if results else cpus},
           "env": {**env, "threads": threads}}
    if baseline is not None:
        out["baseline"] = {"path": str(baseline), "format": format_for_path(baseline).name,
                           "size_bytes": baseline.stat().st_size, "sha256": sha256_file(baseline)}
    return out


def _latency(timing: FileTiming, warmup: int, threads: int, device: str) -> dict:
    if not timing.samples:
        raise EdgekitError(f"{device} returned no timings for {timing.path.name}")
    return device_latency(timing, warmup, threads, device)


def _comparison(path, baseline, timing: FileTiming, base: FileTiming, warmup, threads, device: str) -> dict:
    samples, base_samples = timing.samples, base.samples
    p_slower, p_faster = mann_whitney(np.log(samples), np.log(base_samples))
    return {"candidate": str(path), "baseline": str(baseline),
            "candidate_p50": round(float(np.median(samples)), 4), "baseline_p50": round(float(np.median(base_samples)), 4),
            **ratio_with_ci(samples, base_samples),
            "mann_whitney": {"p_slower": float(f"{p_slower:.3g}"), "p_faster": float(f"{p_faster:.3g}")},
            "baseline_latency_ms": _latency(base, warmup, threads, device)}


def validation_arrays(path: Path, data: str | None, eval_samples: int | None, device: Device):
    """(images, labels, dataset name, normalisation note) of the validation split at the file's input size."""
    if data is None:
        return None, None, None, None
    from edgekit.data import load_data

    prep, note = _preprocessing_near(path)
    size = int(open_session(path).input_shape[-1])
    bundle = load_data(data, size, prep, None, 0)
    if device.kind != "local":
        eval_samples = remote_eval_samples(size, eval_samples)
    images, labels = stacked(limited(bundle.val, eval_samples))
    return images, labels, bundle.name, note


def on_device_accuracy(timing: FileTiming, images, labels, dataset: str, path: Path, device: Device,
                       note: str | None = None) -> dict | None:
    """Top-1 of the file's outputs on the device, and their parity with the same file run on this host."""
    if timing.outputs is None:
        return {"top1": None, "note": f"not measured on device {device.label} (its runtime tool returns no outputs)"}
    n = len(timing.outputs)  # a phone may run fewer images than were sent (each is one tool invocation)
    result = accuracy_of(timing.outputs, labels[:n], dataset)
    if result is None:
        return None
    if note:
        result["note"] = note
    if device.kind != "local":
        host = open_session(path, threads=1).run(images[:n])
        result["parity_vs_host"] = parity(timing.outputs, host, atol=1e-4)
    return result


def _preprocessing_near(path: Path):
    """Normalisation from the run directory's model.json, else ImageNet defaults (said so in the result)."""
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    from edgekit.models.build import Preprocessing, meta_model, preprocessing
    from edgekit.models.checkpoint import model_spec, read_description

    for candidate in (path.parent / "model", path.parent.parent / "model", path.parent):
        if (candidate / "model.json").is_file():
            description, _ = read_description(candidate)
            spec = model_spec(description, f"checkpoint '{candidate}'")
            return preprocessing(meta_model(spec, 10, description.img_size)), None
    return (Preprocessing(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, "bilinear", 0.875),
            "no model.json beside the artifact: ImageNet mean/std assumed")


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2)
