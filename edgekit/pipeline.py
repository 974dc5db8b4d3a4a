"""The compress/export chain: validate everything first, then run stages into a staged run directory."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from edgekit import __version__
from edgekit.bench.accuracy import evaluate, limited, torch_logits_fn
from edgekit.bench.budget import load_budgets
from edgekit.bench.environment import environment
from edgekit.bench.gate import gate_run
from edgekit.bench.gate_output import print_gate
from edgekit.bench.plots import accuracy_latency_plot, latency_plot
from edgekit.bench.report import terminal_table, write_report
from edgekit.core.errors import EdgekitError
from edgekit.core.formats import FormatSpec, parse_formats
from edgekit.core.recipe import Recipe, check_writable_out
from edgekit.core.records import REPORT_SCHEMA, Report
from edgekit.core.rundir import RunDirectory
from edgekit.core.ui import console, info
from edgekit.data import check_data_spec, load_data
from edgekit.models.build import check_img_size, create, preprocessing
from edgekit.models.checkpoint import is_checkpoint, read_description, save_checkpoint
from edgekit.models.zoo import ModelSpec, resolve
from edgekit.stages import distributed
from edgekit.stages.bench import bench_run
from edgekit.stages.chain import ChainState, planned, run_chain
from edgekit.stages.ship import compare_to_baseline, ship
from edgekit.stages.teacher import build_teacher

DEFAULT_NUM_CLASSES = 1000


@dataclass
class Plan:
    """A recipe checked against the registries and the file system; nothing written yet."""

    recipe: Recipe
    spec: ModelSpec
    img_size: int
    formats: list[FormatSpec]
    out: Path
    checkpoint_classes: int | None = None


def validate(recipe: Recipe) -> Plan:
    """Reject every bad input before any work starts (one clear line, exit code 2)."""
    check_prune_options(recipe)
    check_int8_options(recipe)
    if recipe.budget is not None:
        load_budgets(recipe.budget)  # a bad budget file fails before any work (issue #6)
    if recipe.weights is not None and recipe.pretrained:
        raise EdgekitError("--weights and --pretrained are exclusive: pick one source of weights")
    if recipe.kd and not (recipe.prune > 0 or recipe.prune_target or recipe.int8):
        raise EdgekitError("--kd distils a compressed student from the FP32 teacher: combine it with --prune R "
                           "(or --prune-target) or --int8")
    if recipe.kd and recipe.synthetic_data():
        raise EdgekitError("--kd needs labelled --data (synthetic data has no labels to distil on); drop --kd or "
                           "pass --data fashion-mnist or a labelled folder")
    checkpoint_classes = None
    if is_checkpoint(Path(recipe.model)):
        description, _ = read_description(Path(recipe.model))
        spec, checkpoint_classes = resolve(description.model), description.num_classes
        if recipe.weights is not None or recipe.pretrained:
            raise EdgekitError(f"'{recipe.model}' is a checkpoint with its own weights; drop --weights/--pretrained")
        img_size = description.img_size if recipe.img_size is None else recipe.img_size
        if img_size != description.img_size:
            raise EdgekitError(f"checkpoint '{recipe.model}' was built for {description.img_size} px, not {img_size}")
    elif _looks_like_path(recipe.model):
        raise EdgekitError(
            f"'{recipe.model}' is a path, not a model name: name the architecture and pass the file with "
            f"--weights (e.g. edgekit compress effnet_lite0 --weights {recipe.model}), or use timm:<name>")
    else:
        spec = resolve(recipe.model)
        img_size = spec.img_size if recipe.img_size is None else recipe.img_size
    check_img_size(spec, img_size)
    formats = parse_formats(",".join(recipe.formats))
    for fmt in formats:
        fmt.check_installed()
    check_data_spec(recipe.data)
    if recipe.weights is not None:
        from edgekit.models.weights import read_state_dict

        read_state_dict(recipe.weights)  # existence, readability and safety, before any work
    if recipe.resume is not None:
        _check_resume(recipe, spec)
    if recipe.prune_ignore or recipe.prune_ratios:  # layer names must exist (did-you-mean), checked on meta
        from edgekit.pruning.engine import match_names

        with torch.device("meta"):
            probe = create(spec, checkpoint_classes or 10, img_size)
        match_names(probe, recipe.prune_ignore, "--prune-ignore")
        match_names(probe, list(recipe.prune_ratios), "prune_ratios key")
    planned(recipe)  # the compression chain must be valid before any work
    if recipe.cpus:
        from edgekit.bench.cpus import parse_cpus

        parse_cpus(recipe.cpus)
    out = recipe.run_dir()
    check_writable_out(out, recipe.overwrite)
    return Plan(recipe, spec, img_size, formats, out, checkpoint_classes)


def _check_resume(recipe: Recipe, spec: ModelSpec) -> None:
    """A corrupt, truncated or foreign --resume file is refused before any work (and left untouched)."""
    from edgekit.stages.train_state import check_model, read_state

    check_model(read_state(recipe.resume), recipe.resume, spec.name)


def check_prune_options(recipe: Recipe) -> None:
    """--prune and its options: ratio range, criterion and scope names, target syntax, per-layer ratios."""
    from edgekit.pruning import CRITERIA, SCOPES
    from edgekit.pruning.engine import MAX_RATIO
    from edgekit.pruning.target import parse_target

    if not 0 <= recipe.prune <= MAX_RATIO:
        raise EdgekitError(f"--prune {recipe.prune} is outside [0, {MAX_RATIO}] (the fraction of channels removed)")
    CRITERIA.canonical(recipe.prune_criterion)
    if recipe.prune_scope not in SCOPES:
        raise EdgekitError(f"--prune-scope '{recipe.prune_scope}' is not one of {', '.join(SCOPES)}")
    if recipe.prune_target:
        parse_target(recipe.prune_target)
        if recipe.prune > 0:
            raise EdgekitError("--prune and --prune-target are exclusive: give a ratio or a target, not both")
    for pattern, ratio in recipe.prune_ratios.items():
        if not 0 <= ratio <= MAX_RATIO:
            raise EdgekitError(f"prune_ratios['{pattern}'] = {ratio} is outside [0, {MAX_RATIO}]")
    pruning = recipe.prune > 0 or recipe.prune_target
    if not pruning and (recipe.prune_ignore or recipe.prune_ratios):
        raise EdgekitError("--prune-ignore/prune_ratios need --prune R or --prune-target")


def check_int8_options(recipe: Recipe) -> None:
    """--int8 and its options: a known, installed backend; QAT and --max-drop only where accuracy is measurable."""
    from edgekit.quant.backends import AUTO, named_backend

    quant_options = (recipe.int8_mode != "auto" or recipe.max_drop is not None or recipe.quant_backend != AUTO
                     or recipe.tflite_io != "int8")
    if not recipe.int8:
        if quant_options:
            raise EdgekitError("--int8-mode/--quant-backend/--max-drop/--tflite-io need --int8")
        return
    if recipe.tflite_io != "int8" and "tflite" not in {spec.name for spec in parse_formats(",".join(recipe.formats))}:
        raise EdgekitError("--tflite-io sets the .tflite file's interface: add tflite to --formats")
    backend = named_backend(recipe.quant_backend)
    backend.check_installed()
    synthetic = recipe.synthetic_data()
    if synthetic and recipe.int8_mode == "qat":
        raise EdgekitError("--int8 qat needs labelled --data: synthetic data allows PTQ only (--int8 ptq), "
                           "and the int8 accuracy stays unmeasured")
    if synthetic and recipe.max_drop is not None:
        raise EdgekitError("--max-drop needs labelled --data: the drop is top-1 measured on the validation split")
    if recipe.int8_mode == "qat" and not backend.qat:
        raise EdgekitError(f"--quant-backend {backend.name} is post-training only: use --int8 ptq, or the pt2e "
                           "backend for QAT")


def _looks_like_path(name: str) -> bool:
    return not name.startswith("timm:") and ("/" in name or "\\" in name or Path(name).suffix in
                                              (".pt", ".pth", ".bin", ".safetensors", ".onnx", ".tflite", ".pte"))


class StageClock:
    """Collects {name, seconds, metrics} records for report.json."""

    def __init__(self):
        self.records: list[dict] = []

    def add(self, name: str, seconds: float, metrics: dict | None = None) -> None:
        self.records.append({"name": name, "seconds": round(seconds, 2), "metrics": metrics or {}})


def run(recipe: Recipe, command: str = "compress") -> tuple[dict, Path]:
    """Run the chain described by `recipe`; returns the report and the final run directory."""
    plan = validate(recipe)
    distributed.init()
    clock = StageClock()
    torch.manual_seed(recipe.seed)
    start = time.perf_counter()
    with torch.device("meta"):  # the data config only; no weights are allocated
        probe = create(plan.spec, 10, plan.img_size)
    data = load_data(recipe.data, plan.img_size, preprocessing(probe), recipe.subset, recipe.seed)
    num_classes = _num_classes(plan, data)
    clock.add("data", time.perf_counter() - start, {"dataset": data.name, "train": len(data.train) if data.train else 0,
                                                      "val": len(data.val), "num_classes": num_classes})
    start = time.perf_counter()
    teacher = build_teacher(recipe, plan.spec, plan.img_size, num_classes, data)
    clock.add("teacher", time.perf_counter() - start, teacher.metrics)
    start = time.perf_counter()
    accuracy = evaluate(torch_logits_fn(teacher.model), limited(data.val, recipe.eval_samples), data.name,
                        label="accuracy pytorch") if data.has_labels else None
    clock.add("evaluate", time.perf_counter() - start, dict(accuracy or {"top1": None}))
    if accuracy:
        info(f"evaluate: PyTorch FP32 top-1 {accuracy['top1']:.2f}% on {accuracy['n']} {data.name} images")
    teacher.description.metrics = {"accuracy": accuracy}
    state = run_chain(ChainState(teacher.model, teacher.description, teacher.model), recipe, data, clock)
    if not distributed.is_main():  # torchrun: only rank 0 exports, measures and writes
        distributed.barrier()
        return {}, plan.out
    deployed = state.quantized if state.quantized is not None else state.model.eval()
    shipped_accuracy = accuracy
    if state.applied and data.has_labels:
        shipped_accuracy = evaluate(torch_logits_fn(deployed), limited(data.val, recipe.eval_samples),
                                    data.name, label="accuracy pytorch (compressed)")
        info(f"evaluate: compressed model top-1 {shipped_accuracy['top1']:.2f}% (teacher {accuracy['top1']:.2f}%)")
    stem = plan.spec.name.replace(":", "_")
    with RunDirectory(plan.out, recipe.overwrite) as run_dir:
        save_checkpoint(run_dir.path("model"), state.model, state.description)

        def ship_into(model, directory, precision, float_model=None):
            options = {"tflite": {"interface": recipe.tflite_io}} if precision == "int8" else {}
            return ship(model, plan.formats, directory, stem, img_size=plan.img_size, val=data.val,
                        dataset_name=data.name, parity_samples=recipe.parity_samples, parity_atol=recipe.parity_atol,
                        eval_samples=recipe.eval_samples, precision=precision, float_model=float_model,
                        export_options=options)

        artifacts, timings = ship_into(deployed, run_dir.staging, state.precision, state.model)
        for name, seconds in timings.items():
            clock.add(name, seconds, _stage_metrics(name, artifacts))
        baseline = None
        if state.applied:  # the uncompressed FP32 teacher, measured the same way in the same run
            baseline, timings = ship_into(teacher.model, run_dir.subdir("baseline"), "fp32")
            for entry in baseline:
                entry["path"] = f"baseline/{entry['path']}"
            clock.add("baseline", sum(timings.values()), {a["format"]: a["status"] for a in baseline})
            compare_to_baseline(artifacts, baseline)
        if recipe.bench:
            seconds = bench_run(artifacts, baseline, run_dir.staging, recipe)
            clock.add("bench", seconds, _stage_metrics("bench", artifacts))
        report = _report(plan, data, num_classes, clock, (shipped_accuracy, accuracy), artifacts, baseline, command)
        report["plots"] = _plots(report, run_dir.staging)
        if recipe.budget is not None:  # gate step (issue #6): budgets evaluated on the finished report
            report["gate"] = gate_run(report, recipe.budget, run_dir.staging)
        Report.model_validate(report)
        write_report(report, run_dir.staging)
        final = run_dir.commit()
    distributed.barrier()
    console.print(terminal_table(report))
    if report.get("gate"):
        print_gate(report["gate"])
    info(f"run directory: {final}")
    return report, final


def _num_classes(plan: Plan, data) -> int:
    requested = plan.recipe.num_classes
    if plan.checkpoint_classes is not None:
        if data.has_labels and data.num_classes != plan.checkpoint_classes:
            raise EdgekitError(f"checkpoint has {plan.checkpoint_classes} classes but --data has {data.num_classes}")
        return plan.checkpoint_classes
    if data.has_labels:
        if requested is not None and requested != data.num_classes:
            raise EdgekitError(f"--num-classes {requested} disagrees with --data, which has {data.num_classes} classes")
        return data.num_classes
    return requested or DEFAULT_NUM_CLASSES


def _stage_metrics(name: str, artifacts: list[dict]) -> dict:
    if name == "export":
        return {a["format"]: a["status"] for a in artifacts}
    if name == "verify":
        return {a["format"]: (a["parity"] or {}).get("max_abs_diff") for a in artifacts}
    return {a["format"]: (a["latency_ms"] or {}).get("p50") for a in artifacts}


def _report(plan: Plan, data, num_classes, clock, accuracies, artifacts, baseline, command) -> dict:
    recipe = plan.recipe
    return {
        "schema_version": REPORT_SCHEMA, "command": command, "model": plan.spec.name, "timm_id": plan.spec.timm_id,
        "edgekit_version": __version__, "img_size": plan.img_size, "num_classes": num_classes, "data": data.name,
        "env": environment(recipe.threads), "recipe": recipe.model_dump(mode="json"), "stages": clock.records,
        "accuracy_pytorch": accuracies[0], "baseline_accuracy_pytorch": accuracies[1], "artifacts": artifacts,
        # without a compression stage the uncompressed FP32 files are the artifacts themselves
        "baseline": baseline if baseline is not None else copy.deepcopy(artifacts),
        "baseline_is_artifacts": baseline is None,
        "ok": all(a["status"] == "ok" for a in [*artifacts, *(baseline or [])]),
    }


def _plots(report: dict, directory: Path) -> list[str]:
    entries = [dict(a, label=report["model"]) for a in report["artifacts"]]
    if not report["baseline_is_artifacts"]:
        entries += [dict(a, label="baseline") for a in report["baseline"]]
    made = [latency_plot(entries, directory / "latency.png", f"{report['model']} latency per format"),
            accuracy_latency_plot(entries, directory / "accuracy_latency.png", f"{report['model']} top-1 vs latency")]
    return [p.name for p in made if p is not None]
