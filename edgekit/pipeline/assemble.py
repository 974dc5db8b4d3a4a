"""Join the stages' outputs into report.json and lay out the run directory (files, checkpoint, report, plots)."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgekit import __version__
from edgekit.bench.environment import environment
from edgekit.bench.plots import accuracy_latency_plot, latency_plot
from edgekit.bench.reference import comparison
from edgekit.bench.report import write_report
from edgekit.core.formats import FORMATS
from edgekit.core.io import ensure_free_space
from edgekit.core.records import REPORT_SCHEMA, ArtifactRecord, ReferenceComparison, Report, StageRecord
from edgekit.stages.model_stage import CHECKPOINT_DIR

FAILED_DIR = "failed"
BASELINE_DIR = "baseline"


def stage_records(plan, steps: dict) -> list[StageRecord]:
    """One record per node that ran (or came from the cache), in plan order."""
    return [StageRecord(name=node.stage.name, seconds=round(step.seconds, 2), metrics=step.output.metrics,
                        target=node.target, role=node.role if node.target or node.stage.name == "evaluate" else None,
                        cached=step.cached, key=node.key[:16])
            for node in plan.nodes if (step := steps.get(node.id)) is not None]


def _output(plan, steps: dict, stage: str, fmt: str | None = None, role: str = "artifact"):
    node = plan.find(stage, fmt, role)
    return steps[node.id].output if node is not None and node.id in steps else None


def artifact(plan, steps: dict, fmt: str, role: str) -> tuple[ArtifactRecord, Path | None]:
    """The report record of one file, and where its bytes are (None when the export failed)."""
    exported, verified = _output(plan, steps, "export", fmt, role), _output(plan, steps, "verify", fmt, role)
    if exported.record is None:
        return ArtifactRecord(format=fmt, path="", size_bytes=0, sha256="", status="failed",
                              runtime=FORMATS.get(fmt).runtime, error=exported.metrics["error"],
                              **{k: exported.metrics[k] for k in ("precision", "params", "macs")}), None
    check = verified.record
    timed = _output(plan, steps, "bench", fmt)
    result = timed.record if timed is not None else None
    timing = (result.baseline if role == "baseline" else result.candidate) if result is not None else None
    error = None
    if not verified.ok:
        error = check.error if check is not None else verified.metrics.get("skipped")
    elif result is not None and result.status == "failed":
        error = result.error
    status = "failed" if error else "ok"
    folder = f"{BASELINE_DIR}/" if role == "baseline" else ""
    name = f"{folder}{FAILED_DIR + '/' if error else ''}{exported.record.file}"
    entry = ArtifactRecord(**exported.record.model_dump(exclude={"file"}), path=name, status=status, error=error,
                           parity=check.parity if check else None, accuracy=check.accuracy if check else None,
                           fidelity=check.fidelity if check else None,
                           runtime_versions=check.runtime_versions if check else {},
                           int8_census=check.int8_census if check else None,
                           latency_ms=timing.latency_ms if timing else None, load_ms=timing.load_ms if timing else None,
                           cold_start=timing.cold_start if timing else None,
                           device_accuracy=timing.device_accuracy if timing else None)
    return entry, exported.folder / exported.record.file


def compare_to_baseline(artifacts: list[ArtifactRecord], baseline: list[ArtifactRecord]) -> None:
    """Each compressed file against the FP32 baseline of its format: size ratio, top-1 change, timed partner."""
    by_format = {b.format: b for b in baseline if b.status == "ok"}
    for record in artifacts:
        base = by_format.get(record.format)
        if base is None or record.status != "ok" or not base.size_bytes:
            continue
        comparison = {"size_ratio": round(record.size_bytes / base.size_bytes, 4)}
        if record.accuracy and base.accuracy:
            comparison["top1_drop"] = round(base.accuracy.top1 - record.accuracy.top1, 2)
        record.vs_fp32 = comparison
        if record.latency_ms is not None and base.latency_ms is not None:
            record.latency_ms.interleaved_with, base.latency_ms.interleaved_with = base.path, record.path


def compare_to_reference(plan, steps: dict, artifacts: list[ArtifactRecord]) -> None:
    """Each shipped file against the reference run's file of its format (--reference): size growth, the latency
    ratio of the two timed interleaved by this run's bench stage, and the top-1 difference."""
    for record in artifacts:
        found = _output(plan, steps, "reference", record.format)
        if found is None or found.record is None or record.status != "ok":
            continue
        ref = found.record
        timed = _output(plan, steps, "bench", record.format)
        timing = timed.record.reference if timed is not None and timed.record is not None else None
        latency = timing.latency_ms.model_copy(update={"interleaved_with": record.path}) if timing else None
        record.vs_reference = ReferenceComparison(**comparison(
            record.size_bytes, _dumped(record.latency_ms), _dumped(record.accuracy), path=ref.path, sha256=ref.sha256,
            reference_size=ref.size_bytes, reference_latency=_dumped(latency), reference_accuracy=_dumped(ref.accuracy),
            run=ref.run, precision=ref.precision, model=ref.model))


def _dumped(record) -> dict | None:
    return record.model_dump(mode="json") if record is not None else None


def reference_summary(plan) -> dict | None:
    """report.json `reference`: the run compared with, and which of this run's formats it had."""
    run = plan.setting.reference
    if run is None:
        return None
    compared = [n.target for n in plan.nodes if n.stage.name == "reference"]
    return {"run": str(run.directory), "model": run.report["model"], "edgekit_version": run.report["edgekit_version"],
            "formats": compared, "missing_formats": [s.name for s in plan.setting.formats if s.name not in compared]}


def build_report(plan, steps: dict, command: str) -> tuple[dict, dict[str, Path]]:
    """report.json as a dict, and the run-directory path -> source file of every exported file."""
    setting = plan.setting
    files: dict[str, Path] = {}
    groups: dict[str, list[ArtifactRecord]] = {"artifact": [], "baseline": []}
    for role in ("artifact", "baseline") if plan.compressed else ("artifact",):
        for spec in setting.formats:
            record, source = artifact(plan, steps, spec.name, role)
            groups[role].append(record)
            if source is not None:
                files[record.path] = source
    artifacts, baseline = groups["artifact"], groups["baseline"]
    compare_to_baseline(artifacts, baseline)
    compare_to_reference(plan, steps, artifacts)
    accuracy = _accuracy(plan, steps, "artifact")
    report = Report(
        model=setting.spec.name, timm_id=setting.spec.timm_id, source=setting.spec.source,
        edgekit_version=__version__,
        img_size=setting.img_size, num_classes=setting.num_classes, data=setting.data.name,
        env=environment(setting.recipe.bench.threads), recipe=setting.recipe.model_dump(mode="json"),
        training_recipe=setting.training_recipe,
        stages=stage_records(plan, steps), artifacts=artifacts,
        baseline=baseline if plan.compressed else [a.model_copy(deep=True, update={"vs_reference": None})
                                                   for a in artifacts],
        accuracy_pytorch=accuracy, ok=all(a.status == "ok" for a in [*artifacts, *baseline]),
        cache={"hits": [n.id for n in plan.nodes if n.id in steps and steps[n.id].cached],
               "misses": [n.id for n in plan.nodes if n.id in steps and not steps[n.id].cached]},
    ).model_dump(mode="json")
    if plan.setting.reference is not None:
        report["reference"] = reference_summary(plan)
    swapped = _output(plan, steps, "attention")
    if swapped is not None:  # the compressed model's attention (the teacher and the baseline files keep softmax)
        report["attention"] = {k: swapped.metrics[k] for k in ("attention", "teacher", "layers", "projected",
                                                               "tokens", "features") if k in swapped.metrics}
    device_envs = [steps[n.id].output.record.device_env for n in plan.nodes if n.stage.name == "bench"
                   and n.id in steps and getattr(steps[n.id].output.record, "device_env", None)]
    if device_envs:
        report["device_env"] = device_envs[0]
    report.update(schema_version=REPORT_SCHEMA, command=command, baseline_is_artifacts=not plan.compressed,
                  baseline_accuracy_pytorch=_accuracy(plan, steps, "baseline") if plan.compressed else accuracy)
    return report, files


def _accuracy(plan, steps: dict, role: str) -> dict | None:
    evaluated = _output(plan, steps, "evaluate", role=role)
    return evaluated.metrics.get("accuracy") if evaluated is not None else None


def write_run(directory: Path, report: dict, files: dict[str, Path], final_output) -> None:
    """Fill the staging run directory: the files (linked or copied from the cache), the shipped model's checkpoint,
    report.json / report.md and the plots."""
    checkpoint = final_output.folder / CHECKPOINT_DIR
    sources = {**files, **{f"{CHECKPOINT_DIR}/{p.name}": p for p in checkpoint.iterdir() if p.is_file()}}
    device = directory.stat().st_dev  # files on the cache's file system are hard-linked: they take no space
    copied = sum(p.stat().st_size for p in sources.values() if p.stat().st_dev != device)
    ensure_free_space(directory, copied, "the run directory")
    for relative, source in sources.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(source, target)
    report["plots"] = _plots(report, directory)
    write_report(report, directory)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the cache and the run share a file system (no extra space), else a copy."""
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copyfile(source, target)


def _plots(report: dict, directory: Path) -> list[str]:
    entries = [dict(a, label=report["model"]) for a in report["artifacts"]]
    if not report["baseline_is_artifacts"]:
        entries += [dict(a, label="baseline") for a in report["baseline"]]
    made = [latency_plot(entries, directory / "latency.png", f"{report['model']} latency per format"),
            accuracy_latency_plot(entries, directory / "accuracy_latency.png", f"{report['model']} top-1 vs latency")]
    return [p.name for p in made if p is not None]
