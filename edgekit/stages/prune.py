"""The prune stage: structured channel pruning of the teacher, optional fine-tuning between steps, a report."""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata

import torch

from edgekit.core.errors import first_line
from edgekit.core.ui import info
from edgekit.data import DataBundle
from edgekit.models.complexity import count_macs, count_params
from edgekit.models.structure import widths
from edgekit.pruning import latency
from edgekit.pruning.engine import PruneConfig, prune
from edgekit.pruning.target import parse_target, search_ratio

TAYLOR_BATCHES = 4
TAYLOR_BATCH_SIZE = 16
LATENCY_RUNS = 40


def config_from(recipe) -> PruneConfig:
    return PruneConfig(ratio=recipe.prune, criterion=recipe.prune_criterion, scope=recipe.prune_scope,
                       steps=recipe.prune_steps, round_to=recipe.round_to, ignore=list(recipe.prune_ignore),
                       ratios=dict(recipe.prune_ratios))


def example_batch(data: DataBundle, n: int = 1) -> torch.Tensor:
    return torch.stack([data.val[i][0] for i in range(min(n, len(data.val)))])


def taylor_gradients(model: torch.nn.Module, teacher: torch.nn.Module, data: DataBundle) -> None:
    """Accumulate gradients of the loss on real images (labels, or the teacher's top-1 without labels)."""
    source = data.train if data.train is not None and data.has_labels else data.val
    loss_fn = torch.nn.CrossEntropyLoss()
    model.eval().zero_grad(set_to_none=True)
    for b in range(TAYLOR_BATCHES):
        idx = range(b * TAYLOR_BATCH_SIZE, min(len(source), (b + 1) * TAYLOR_BATCH_SIZE))
        if not idx:
            break
        images = torch.stack([source[i][0] for i in idx])
        if data.has_labels:
            targets = torch.tensor([int(source[i][1]) for i in idx])
        else:
            with torch.no_grad():
                targets = teacher.eval()(images).argmax(1)
        loss_fn(model(images), targets).backward()


def run_prune(state, recipe, data: DataBundle) -> dict:
    """Prune `state.model` (a copy: the teacher stays intact) and record the new widths in its description."""
    img_size = state.description.img_size
    config = config_from(recipe)
    example = example_batch(data)
    model = copy.deepcopy(state.model).eval()
    params0, macs0 = count_params(model), count_macs(model, img_size)
    metrics: dict = {"criterion": config.criterion, "scope": config.scope, "steps": config.steps,
                     "round_to": config.round_to}
    if recipe.prune_target:
        config.ratio, metrics["target_search"] = _search(model, config, example, recipe.prune_target, img_size)
    can_train = data.has_labels and data.train is not None and recipe.epochs > 0
    history: list = []

    def before_step(step: int) -> None:
        if config.criterion == "taylor":
            taylor_gradients(model, state.teacher, data)

    def after_step(step: int) -> None:
        # between iterative steps only: recovery after the last step is the kd/finetune stage's job
        if can_train and step < config.steps - 1:
            history.extend(_finetune(model, recipe, data, step, config.steps))

    info(f"prune: removing {config.ratio:.0%} of channels ({config.criterion}, {config.scope}, "
         f"{config.steps} step(s), widths rounded to {config.round_to})")
    changes, before, plan = prune(model, config, example, before_step, after_step)
    params1, macs1 = count_params(model), count_macs(model, img_size)
    metrics.update(ratio=round(config.ratio, 4), params_before=params0, params_after=params1,
                   macs_before=macs0, macs_after=macs1, macs_ratio=round(macs1 / macs0, 4),
                   params_ratio=round(params1 / params0, 4), ignored=plan.ignored,
                   attention_kept_full_width=plan.kept_attention,
                   attention_head_dims_pruned=len(plan.head_dim_attention),
                   groups_skipped=getattr(plan.pruner.importance, "skipped", 0), widths=widths(changes, before))
    if history:
        metrics["finetune"] = history
    metrics["latency"] = _latency(state.teacher, model, img_size, macs0 / macs1)
    state.model = model
    edit = {"kind": "prune", "tool": f"torch-pruning {importlib.metadata.version('torch-pruning')}",
            "config": dataclasses.asdict(config), "modules": changes}
    state.description = dataclasses.replace(state.description, edits=[*state.description.edits, edit])
    info(f"prune: params {params0 / 1e6:.2f}M → {params1 / 1e6:.2f}M, MACs {macs0 / 1e6:.1f}M → {macs1 / 1e6:.1f}M "
         f"({macs1 / macs0:.2f}x)")
    return metrics


def _search(model, config, example, target: str, img_size: int) -> tuple[float, list]:
    metric, fraction = parse_target(target)
    if metric == "macs":
        measure = lambda m: float(count_macs(m, img_size))  # noqa: E731
    else:
        measure = lambda m: latency.measure({"m": m}, img_size, runs=20, rounds=2)["m"]["p50"]  # noqa: E731
    info(f"prune: searching the ratio that brings {metric} to {fraction:.0%} of the original")
    ratio, probes = search_ratio(model, config, example, measure, fraction, metric,
                                 on_probe=lambda r, v: info(f"prune: ratio {r:.3f} → {metric} {v:.3f}x"))
    info(f"prune: target {target} → ratio {ratio:.3f}")
    return ratio, probes


def _finetune(model, recipe, data, step: int, steps: int) -> list:
    from edgekit.stages.teacher import train_config
    from edgekit.stages.train import train

    config = dataclasses.replace(train_config(recipe), epochs=max(1, recipe.epochs // steps))
    result = train(model, data, config, label=f"prune fine-tune {step + 1}/{steps}", stage=f"prune-{step + 1}",
                   model_name=recipe.model)
    return result.history


def _latency(teacher, pruned, img_size: int, mac_gain: float) -> dict | None:
    """onnxruntime p50 before/after at 1 thread (interleaved); warns when it lags far behind the MAC gain."""
    if not latency.onnx_available():
        return None
    try:
        result = latency.measure({"before": teacher, "after": pruned}, img_size, runs=LATENCY_RUNS)
    except Exception as exc:  # the ship stage reports export problems in detail
        info(f"[yellow]warning:[/] prune: could not measure latency ({type(exc).__name__})")
        return {"error": f"{type(exc).__name__}: {first_line(exc, 200)}"}
    before, after = result["before"]["p50"], result["after"]["p50"]
    speedup = before / after if after > 0 else float("nan")
    record = {"runtime": "onnxruntime", "threads": 1, "p50_before_ms": before, "p50_after_ms": after,
              "speedup": round(speedup, 3), "mac_gain": round(mac_gain, 3)}
    info(f"prune: onnxruntime p50 {before:.3f} → {after:.3f} ms ({speedup:.2f}x faster; MACs {mac_gain:.2f}x fewer)")
    if speedup - 1 < 0.5 * (mac_gain - 1):
        record["warning"] = "latency gain far below MAC gain"
        info(f"[yellow]warning:[/] pruning cut MACs {mac_gain:.2f}x but latency only {speedup:.2f}x: the runtime is "
             "not compute-bound on the pruned layers (try --prune-target latency=F or other --prune-ignore)")
    return record
