"""The prune stage: structured channel pruning of the teacher, fine-tuning between iterative steps, a report."""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata
from contextlib import ExitStack

import torch

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.options import PruneOptions
from edgekit.core.ui import info
from edgekit.data import DataBundle
from edgekit.devices import open_device
from edgekit.models.build import meta_model
from edgekit.models.complexity import count_macs, count_params
from edgekit.models.structure import widths
from edgekit.pruning import latency
from edgekit.pruning.engine import PruneConfig, match_names, prune
from edgekit.pruning.handlers import refusal
from edgekit.pruning.target import parse_target, search_ratio
from edgekit.stages.base import Context, ModelArtifact, Node, Output, Setting, register
from edgekit.stages.model_stage import ModelStage
from edgekit.stages.train import TRAINER_VERSION, TrainConfig, train

TAYLOR_BATCHES = 4
TAYLOR_BATCH_SIZE = 16
LATENCY_RUNS = 40


def config_from(prune: PruneOptions) -> PruneConfig:
    """The engine's settings of the recipe's `prune` section (a target's ratio is searched later)."""
    return PruneConfig(ratio=prune.ratio, criterion=prune.criterion, scope=prune.scope, steps=prune.steps,
                       round_to=prune.round_to, ignore=list(prune.ignore), ratios=dict(prune.ratios))


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


@register
class Prune(ModelStage):
    name = "prune"
    version = TRAINER_VERSION
    may_follow = ("teacher",)
    reads = ("prune", "seed")
    libraries = ("torch", "torch-pruning", "timm")

    def reads_for(self, setting: Setting, node: Node) -> tuple[str, ...]:
        """Iterative pruning fine-tunes between steps when the data can train: then it reads the trainer's options."""
        trains = setting.recipe.prune.steps > 1 and can_train(setting)
        reads = (*self.reads, "train", "data.eval_samples") if trains else self.reads
        if _latency_target(setting.recipe.prune.target):  # measured where the files will run
            reads = (*reads, "bench.device", "bench.devices", "bench.threads")
        return reads

    def identity(self, node: Node, setting: Setting) -> dict:
        if not _latency_target(setting.recipe.prune.target):
            return {}
        bench = setting.recipe.bench
        return open_device(bench.device, bench.devices).identity()

    def describe(self, node: Node, setting: Setting) -> str:
        prune = node.options.prune
        amount = f"to {prune.target}" if prune.target else f"{prune.ratio:.0%} of channels"
        return f"{amount}, {prune.criterion}" + (f", {prune.steps} steps" if prune.steps > 1 else "")

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        seconds = probe.export_seconds("onnx") * 2 + probe.inference_seconds(2 * LATENCY_RUNS, single=True)
        if hasattr(node.options, "train"):
            steps = node.options.prune.steps
            seconds += (steps - 1) * probe.training_seconds(max(1, node.options.train.epochs // steps),
                                                            setting.data.n_train, setting.data.n_val,
                                                            node.options.data.eval_samples)
        return seconds

    def check(self, node: Node, setting: Setting) -> None:
        prune = setting.recipe.prune
        try:
            probe = meta_model(setting.spec, setting.num_classes, setting.img_size)
        except Exception:  # noqa: BLE001 - the prune stage itself reports a model it cannot build
            probe = None
        reason = refusal(probe) if probe is not None else None  # a family pruning refuses, before the teacher trains
        if reason:
            raise EdgekitError(reason)
        if prune.ignore or prune.ratios:  # layer names must exist (did-you-mean), checked on a meta model
            probe = probe if probe is not None else meta_model(setting.spec, setting.num_classes, setting.img_size)
            match_names(probe, prune.ignore, "--prune-ignore")
            match_names(probe, list(prune.ratios), "prune.ratios key")

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        """Prune a copy of the teacher and record the new widths in its description."""
        teacher = inputs["model"].model
        options, data = node.options, ctx.data
        img_size = teacher.description.img_size
        config = config_from(options.prune)
        example = example_batch(data)
        model = copy.deepcopy(teacher.module).eval()
        params0, macs0 = count_params(model), count_macs(model, img_size)
        metrics: dict = {"criterion": config.criterion, "scope": config.scope, "steps": config.steps,
                         "round_to": config.round_to}
        if options.prune.target:
            device = open_device(options.bench.device, options.bench.devices) if hasattr(options, "bench") else None
            config.ratio, metrics["target_search"] = _search(model, config, example, options.prune.target, img_size,
                                                             device, getattr(options, "bench", None))
        history: list = []
        torch.manual_seed(options.seed)

        def before_step(step: int) -> None:
            if config.criterion == "taylor":
                taylor_gradients(model, teacher.module, data)

        def after_step(step: int) -> None:
            # between iterative steps only: recovery after the last step is the kd/finetune stage's job
            if hasattr(options, "train") and step < config.steps - 1:
                history.extend(_finetune(model, options, data, step, config.steps, teacher.description.model))

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
        metrics["latency"] = _latency(teacher.module, model, img_size, macs0 / macs1)
        edit = {"kind": "prune", "tool": f"torch-pruning {importlib.metadata.version('torch-pruning')}",
                "config": dataclasses.asdict(config), "modules": changes}
        description = dataclasses.replace(teacher.description, edits=[*teacher.description.edits, edit], metrics={})
        info(f"prune: params {params0 / 1e6:.2f}M → {params1 / 1e6:.2f}M, MACs {macs0 / 1e6:.1f}M → "
             f"{macs1 / 1e6:.1f}M ({macs1 / macs0:.2f}x)")
        return Output(metrics, ModelArtifact(description, module=model))


def can_train(setting: Setting) -> bool:
    """Whether recovery training is possible: epochs to run and labelled data."""
    return setting.recipe.train.epochs > 0 and setting.data.labelled


def _latency_target(target: str | None) -> bool:
    return bool(target) and parse_target(target)[0] == "latency"


def _search(model, config, example, target: str, img_size: int, device=None, bench=None) -> tuple[float, list]:
    metric, goal = parse_target(target)
    measure, fraction, where = None, None, ""
    with ExitStack() as stack:
        if metric == "macs":
            measure = lambda m: float(count_macs(m, img_size))  # noqa: E731
        elif device is not None and device.kind != "local":
            fraction = stack.enter_context(latency.device_fraction(model, img_size, device, threads=bench.threads))
            where = f", measured on {device.label}"
        else:
            measure = lambda m: latency.measure({"m": m}, img_size, runs=20, rounds=2)["m"]["p50"]  # noqa: E731
        info(f"prune: searching the ratio that brings {metric} to {goal:.0%} of the original{where}")
        ratio, probes = search_ratio(model, config, example, measure, goal, metric, fraction=fraction,
                                     on_probe=lambda r, v: info(f"prune: ratio {r:.3f} → {metric} {v:.3f}x"))
    info(f"prune: target {target} → ratio {ratio:.3f}")
    return ratio, probes


def _finetune(model, options, data, step: int, steps: int, model_name: str) -> list:
    config = TrainConfig.from_options(options.train, seed=options.seed, eval_samples=options.data.eval_samples,
                                      epochs=max(1, options.train.epochs // steps))
    result = train(model, data, config, label=f"prune fine-tune {step + 1}/{steps}", stage=f"prune-{step + 1}",
                   model_name=model_name)
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
