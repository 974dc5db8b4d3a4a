"""Export one FP32/INT8 model to every requested format, verify each file in its runtime, time it."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from edgekit.bench.accuracy import evaluate, limited
from edgekit.bench.measure import parity
from edgekit.core.errors import first_line
from edgekit.core.formats import FormatSpec
from edgekit.core.io import sha256_file
from edgekit.core.ui import info, native_stderr_captured
from edgekit.exporters import export
from edgekit.models.complexity import count_macs, count_params
from edgekit.runtimes import open_session

log = logging.getLogger(__name__)

#: int8 files are compared with the quantized PyTorch model, which simulates integer arithmetic in float. Where float
#: ops (LayerNorm, GELU, softmax) sit between int8 tensors, a last-bit difference in float flips a rounding step and
#: propagates, so a small random-init ViT may differ by ~20% of its (tiny) logit range while all three integer
#: runtimes agree with each other exactly. A broken conversion (wrong scale, zero point or layout) is off by the
#: whole range; the accuracy through each runtime, on labelled data, is the sharper check.
INT8_PARITY_FRACTION = 0.25


def first_images(dataset: Dataset, n: int) -> np.ndarray:
    """The first `n` model-ready images of `dataset` as an N×3×H×W float32 array."""
    n = min(n, len(dataset))
    return np.stack([dataset[i][0].numpy() for i in range(n)]).astype(np.float32)


def ship(model: torch.nn.Module, formats: list[FormatSpec], directory: Path, stem: str, *, img_size: int,
         val: Dataset, dataset_name: str, parity_samples: int, parity_atol: float, eval_samples: int | None,
         precision: str = "fp32", float_model: torch.nn.Module | None = None,
         export_options: dict[str, dict] | None = None) -> tuple[list[dict], dict]:
    """Export `model` in each format and verify each file in its runtime; returns records and stage timings.

    `export_options` maps a format name to keyword options of its exporter (e.g. {"tflite": {"interface": "float"}}).

    For an int8 `model` (a PT2E graph) the reference is the quantized PyTorch model itself, and params/MACs are
    counted on `float_model`. Timing is the bench stage's job (edgekit.stages.bench), run once every file exists.
    """
    model.eval()
    inputs = first_images(val, parity_samples)
    with torch.inference_mode():
        reference = model(torch.from_numpy(inputs)).float().numpy()
    counted = float_model if float_model is not None else model
    params, macs = count_params(counted), count_macs(counted, img_size)
    if precision == "int8":
        parity_atol = max(parity_atol, INT8_PARITY_FRACTION * float(reference.max() - reference.min()))
    example = torch.from_numpy(inputs[:1])
    records, timings = [], {"export": 0.0, "verify": 0.0}
    for spec in formats:
        path = directory / f"{stem}{spec.suffix}"
        record = {"format": spec.name, "path": path.name, "precision": precision, "params": params, "macs": macs,
                  "runtime": spec.runtime, "status": "ok", "parity": None, "latency_ms": None, "accuracy": None,
                  "load_ms": None, "op_counts": {}, "fallback_ops": [], "notes": [], "error": None}
        start = time.perf_counter()
        try:
            info(f"export: {spec.name} → {path.name}")
            with native_stderr_captured():
                result = export(spec, model, example, path, **(export_options or {}).get(spec.name, {}))
            record.update(op_counts=result.op_counts, fallback_ops=result.fallback_ops, notes=result.notes)
        except Exception as exc:  # a format that cannot take the model is reported, the others still ship
            log.debug("export failed", exc_info=True)
            record.update(status="failed", error=f"export failed: {type(exc).__name__}: {first_line(exc, 300)}")
        record["export_seconds"] = round(time.perf_counter() - start, 2)
        timings["export"] += time.perf_counter() - start
        if record["status"] == "ok":
            start = time.perf_counter()
            _verify(record, path, inputs, reference, parity_atol, val, dataset_name, eval_samples)
            if precision == "int8":
                record["int8_census"] = _census(spec.name, path, model)
            timings["verify"] += time.perf_counter() - start
        _finalise(record, path, directory)
        records.append(record)
    return records, timings


def _census(format_name: str, path: Path, model: torch.nn.Module) -> dict:
    """Integer vs float ops of the deployed file (what fell back to float, by op type)."""
    from edgekit.quant import census

    try:
        if format_name == "onnx":
            return census.onnx_census(path)
        if format_name == "tflite":
            return census.tflite_census(path)
        return census.graph_census(model)  # .pte: the graph XNNPACK lowered (fallback_ops lists the rest)
    except Exception as exc:  # noqa: BLE001 - a census is information, not a verdict
        log.debug("census failed", exc_info=True)
        return {"error": f"{type(exc).__name__}: {first_line(exc, 200)}"}


def compare_to_baseline(artifacts: list[dict], baseline: list[dict]) -> None:
    """Each compressed file against the FP32 baseline of its format: size ratio and top-1 change."""
    by_format = {b["format"]: b for b in baseline if b["status"] == "ok"}
    for record in artifacts:
        base = by_format.get(record["format"])
        if base is None or record["status"] != "ok" or not base.get("size_bytes"):
            continue
        comparison = {"size_ratio": round(record["size_bytes"] / base["size_bytes"], 4)}
        if record.get("accuracy") and base.get("accuracy"):
            comparison["top1_drop"] = round(base["accuracy"]["top1"] - record["accuracy"]["top1"], 2)
        record["vs_fp32"] = comparison


def _verify(record: dict, path: Path, inputs, reference, atol, val, dataset_name, eval_samples) -> None:
    try:
        with native_stderr_captured():
            session = open_session(path, threads=os.cpu_count() or 1)
        record["runtime_versions"] = session.versions()
        record["parity"] = parity(session.run(inputs), reference, atol)
        if not record["parity"]["passed"]:
            record.update(status="failed", error=f"parity failed: max |diff| {record['parity']['max_abs_diff']} > "
                          f"{record['parity']['tolerance']} or top-1 disagreement")
            return
        record["accuracy"] = evaluate(session.run, limited(val, eval_samples), dataset_name,
                                      label=f"accuracy {record['format']}")
    except Exception as exc:
        log.debug("verification failed", exc_info=True)
        record.update(status="failed", error=f"runtime failed: {type(exc).__name__}: {first_line(exc, 300)}")


def _finalise(record: dict, path: Path, directory: Path) -> None:
    """Hash and size the file; a failed file moves to failed/ so it is never shipped by mistake."""
    if not path.exists():
        record.update(size_bytes=0, sha256="")
        return
    record.update(size_bytes=path.stat().st_size, sha256=sha256_file(path))
    if record["status"] == "failed":
        quarantine(record, directory)


def quarantine(record: dict, directory: Path) -> None:
    """Move a failed artifact into `directory`/failed/ and point its record there."""
    path = directory / Path(record["path"]).name
    if path.exists():
        failed = directory / "failed"
        failed.mkdir(exist_ok=True)
        path.replace(failed / path.name)
        record["path"] = str(Path(record["path"]).parent / "failed" / path.name).removeprefix("./")
