"""--max-drop: rank layers by quantization sensitivity and keep the worst in float until the drop is within budget."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import torch

from edgekit.bench.accuracy import evaluate, limited, torch_logits_fn
from edgekit.core.errors import EdgekitError
from edgekit.core.ui import info, progress
from edgekit.data.batches import fetch
from edgekit.quant import scheme

RANKING_IMAGES = 256


def quantizable_layers(model: torch.nn.Module) -> list[str]:
    """Names of the conv and linear modules the scheme quantizes."""
    kinds = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def top1_of_deployed(converted: torch.nn.Module, val, dataset_name: str) -> tuple[float, str]:
    """Top-1 of the int8 model as deployed: through onnxruntime when it is installed, else in PyTorch."""
    if importlib.util.find_spec("onnxruntime") is None:
        return evaluate(torch_logits_fn(converted), val, dataset_name, label="max-drop: int8 (pytorch)")["top1"], "pytorch"
    from edgekit.exporters.onnx import export_onnx
    from edgekit.runtimes import open_session
    from edgekit.runtimes.onnxruntime import int8_weight_type

    example, _ = fetch(val, [0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidate.onnx"
        export_onnx(converted, example, path, int8_weights=int8_weight_type())  # the form this host runs exactly
        session = open_session(path, threads=torch.get_num_threads())
        return evaluate(session.run, val, dataset_name, label="max-drop: int8 (onnxruntime)")["top1"], "onnxruntime"


def rank_layers(model, graph, backend, batches, images: torch.Tensor, observer: str = "histogram") -> list[dict]:
    """Each layer's sensitivity: how much output distortion (MSE of logits vs FP32) keeping it in float removes."""
    with torch.inference_mode():
        reference = model.eval()(images)

    def distortion(float_layers: tuple[str, ...]) -> float:
        converted = backend.quantize(graph, scheme.xnnpack_quantizer(False, float_layers, observer), batches)
        with torch.inference_mode():
            return float(torch.mean((converted(images) - reference) ** 2))

    full = distortion(())
    rows = []
    layers = quantizable_layers(model)
    with progress() as bar:
        task = bar.add_task("max-drop: layer sensitivity", total=len(layers), status="")
        for name in layers:
            rows.append({"layer": name, "sensitivity": round(full - distortion((name,)), 6)})
            bar.update(task, advance=1, status=name)
    return sorted(rows, key=lambda r: -r["sensitivity"])


def search(model, graph, backend, batches, data, max_drop: float, eval_samples: int | None,
           observer: str = "histogram") -> dict:
    """Smallest prefix of the sensitivity ranking kept in float (1, 2, 4, ... layers) that meets --max-drop."""
    if not data.has_labels:
        raise EdgekitError("--max-drop needs labelled --data: the drop is measured as top-1 on the validation split")
    val = limited(data.val, eval_samples)
    fp32 = evaluate(torch_logits_fn(model.eval()), val, data.name, label="max-drop: fp32")["top1"]
    steps: list[dict] = []

    def attempt(float_layers: tuple[str, ...]) -> float:
        converted = backend.quantize(graph, scheme.xnnpack_quantizer(False, float_layers, observer), batches)
        top1, where = top1_of_deployed(converted, val, data.name)
        steps.append({"float_layers": len(float_layers), "top1": top1, "drop": round(fp32 - top1, 2), "measured_in": where})
        info(f"max-drop: {len(float_layers)} layer(s) in float → top-1 {top1:.2f}% (drop {fp32 - top1:.2f}, "
             f"budget {max_drop})")
        return fp32 - top1

    method = "nncf.quantize_with_accuracy_control" if backend.accuracy_control else "edgekit sensitivity search"
    result = {"method": method, "fp32_top1": fp32, "max_drop": max_drop, "steps": steps, "ranking": [],
              "float_layers": []}
    if attempt(()) <= max_drop:
        result["met"] = True
        return result
    if backend.accuracy_control:
        result["nncf"] = backend.float_layers_for(model, quantizable_layers(model), batches, val, max_drop)
        chosen = tuple(result["nncf"]["float_layers"])
        return _settle(result, attempt(chosen), chosen, max_drop)
    images = fetch(val, list(range(min(RANKING_IMAGES, len(val)))))[0]
    ranking = rank_layers(model, graph, backend, batches, images, observer)
    result["ranking"] = ranking
    names = [r["layer"] for r in ranking]
    best = (float("inf"), ())
    count = 1
    while True:
        chosen = tuple(names[:count])
        drop = attempt(chosen)
        best = min(best, (drop, chosen), key=lambda b: b[0])
        if drop <= max_drop or count >= len(names):
            break
        count = min(len(names), count * 2)
    return _settle(result, *best, max_drop)


def _settle(result: dict, drop: float, float_layers: tuple[str, ...], max_drop: float) -> dict:
    """Record the chosen float layers and whether their measured drop meets the budget (a warning when not)."""
    result["met"] = drop <= max_drop
    result["float_layers"] = list(float_layers)
    if not result["met"]:
        info(f"[yellow]warning:[/] --max-drop {max_drop} not reached; best drop {drop:.2f} points "
             f"with {len(float_layers)} layer(s) in float")
    return result
