"""The `int8` stage: QAT through the shared trainer, or PTQ on calibration images; one integer model for all formats."""

from __future__ import annotations

import copy
import dataclasses

import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.ui import info
from edgekit.data.batches import fetch
from edgekit.models.zoo import resolve
from edgekit.quant import pt2e, scheme
from edgekit.quant.backends import choose_backend, named_backend
from edgekit.quant.census import graph_census
from edgekit.quant.graph import qdq_counts

MODES = ("auto", "qat", "ptq")


def resolve_mode(recipe, data) -> str:
    """QAT when the data can train and epochs > 0 (and the backend trains); PTQ otherwise."""
    backend = named_backend(recipe.quant_backend)
    trainable = data.has_labels and data.train is not None and recipe.qat_epochs > 0
    if recipe.int8_mode == "qat":
        if not trainable:
            raise EdgekitError("--int8-mode qat needs labelled --data with a training split and --qat-epochs > 0; "
                               "synthetic data allows PTQ only (--int8-mode ptq), and its accuracy is unmeasured")
        if not backend.qat:
            raise EdgekitError(f"--quant-backend {backend.name} is post-training only; use --int8-mode ptq "
                               f"or --quant-backend pt2e for QAT")
        return "qat"
    if recipe.int8_mode == "ptq":
        return "ptq"
    return "qat" if trainable and backend.qat else "ptq"


def calibration_batches(data, samples: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """`samples` unaugmented training images (validation images when there is no training split)."""
    dataset = data.train if data.train is not None else data.val
    augmenting = getattr(dataset, "train", None)
    if augmenting:
        dataset.train = False
    try:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:samples].tolist()
        return [fetch(dataset, order[i:i + batch_size])[0] for i in range(0, len(order), batch_size)]
    finally:
        if augmenting:
            dataset.train = True


def run_int8(state, recipe, data) -> dict:
    """Quantize `state.model` to INT8; the float student keeps its (QAT-updated) weights for the checkpoint."""
    mode = resolve_mode(recipe, data)
    backend, why = choose_backend(recipe.quant_backend, mode, resolve(state.description.model).family,
                                  recipe.max_drop)
    if state.model is state.teacher:  # never alter the FP32 baseline
        state.model = copy.deepcopy(state.model)
    example, _ = fetch(data.val, [0])
    batches = calibration_batches(data, recipe.calib_samples, min(recipe.batch_size, 64), recipe.seed)
    graph = pt2e.capture(state.model, example)
    metrics: dict = {"mode": mode, "backend": backend.name, "backend_choice": why,
                     "calib_samples": sum(b.shape[0] for b in batches)}
    float_layers: tuple[str, ...] = ()
    if recipe.max_drop is not None:
        from edgekit.quant.accuracy_control import search

        control = search(state.model, graph, backend, batches, data, recipe)
        float_layers = tuple(control["float_layers"])
        metrics["accuracy_control"] = control
    if mode == "qat":
        converted, metrics["qat"] = _qat(state, graph, batches, float_layers, recipe, data)
    else:
        info(f"int8: post-training quantization ({backend.name}) on {metrics['calib_samples']} calibration images")
        converted = backend.quantize(graph, scheme.xnnpack_quantizer(False, float_layers), batches)
    state.quantized, state.precision = converted, "int8"
    metrics.update(scheme=scheme.describe(float_layers), qdq=qdq_counts(converted), census=graph_census(converted),
                   activation_ranges=pt2e.observer_ranges(converted))
    info(f"int8: {metrics['census']['int8_ops']} integer ops, {metrics['census']['float_ops']} float ops "
         f"({', '.join(metrics['census']['float_op_types']) or 'none'})")
    return metrics


def _qat(state, graph, batches, float_layers, recipe, data) -> tuple[torch.nn.Module, dict]:
    """Fake-quant fine-tuning through the shared trainer, distilling from the FP32 teacher unless --no-kd."""
    from edgekit.stages.distill import Distillation
    from edgekit.stages.teacher import train_config, train_state_path
    from edgekit.stages.train import train

    prepared = pt2e.prepare(graph, scheme.xnnpack_quantizer(True, float_layers), qat=True)
    pt2e.calibrate(prepared, batches)  # start the fake-quantizers from calibrated ranges
    config = dataclasses.replace(train_config(recipe), epochs=recipe.qat_epochs, lr=recipe.qat_lr, ema_decay=None,
                                 warmup_fraction=0.0)
    use_kd = recipe.kd is not False
    objective = None
    if use_kd:
        example, _ = fetch(data.val, [0])
        objective = Distillation(state.teacher, prepared, example, temperature=recipe.kd_temperature,
                                 alpha=recipe.kd_alpha, label_smoothing=recipe.label_smoothing)
    info(f"int8: quantization-aware training, {config.epochs} epoch(s) at lr {config.lr}"
         f"{' with distillation from the FP32 teacher' if use_kd else ''}")
    result = train(prepared, data, config, label="qat", stage="qat", model_name=state.description.model,
                   objective=objective, state_path=train_state_path(recipe, "qat"), resume=recipe.resume)
    _copy_weights(prepared, state.model)
    return pt2e.convert(prepared), {"epochs": config.epochs, "lr": config.lr, "kd": use_kd,
                                    "best_epoch": result.best_epoch, "best_val_top1": result.best_top1,
                                    "history": result.history}


def _copy_weights(prepared: torch.nn.Module, model: torch.nn.Module) -> None:
    """Write the QAT-trained weights back into the eager float model (torch.export keeps parameter names)."""
    trained = prepared.state_dict()
    own = model.state_dict()
    shared = {k: v for k, v in trained.items() if k in own and v.shape == own[k].shape}
    missing = [k for k in own if k not in shared and not k.endswith("num_batches_tracked")]
    if missing:
        raise EdgekitError(f"int8: QAT graph lost {len(missing)} weight(s) of the float model (e.g. {missing[0]})")
    model.load_state_dict(shared, strict=False)
