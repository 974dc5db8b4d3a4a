"""Plan, show, run and report: `compress` and `export` as one pipeline of typed, cached stages.

make_plan validates everything before work starts; the plan is printed with what comes from the cache and how long
the rest will take; the runner computes only the nodes whose keys are not cached; the report joins the outputs and
the run directory is swapped into place at the end, so a failure leaves an earlier run untouched.
"""

from __future__ import annotations

import time
from pathlib import Path

from edgekit.core.cache import Store
from edgekit.core.paths import cache_dir
from edgekit.core.recipe import Recipe
from edgekit.core.records import Report, StageRecord
from edgekit.core.rundir import RunDirectory
from edgekit.core.ui import console, info
from edgekit.data import load_data
from edgekit.models.build import meta_model, preprocessing
from edgekit.pipeline.assemble import build_report, write_run
from edgekit.pipeline.display import estimates, long_plan_line, plan_table
from edgekit.pipeline.estimate import Probe
from edgekit.pipeline.plan import Plan, make_plan
from edgekit.pipeline.runner import Runner, Step
from edgekit.stages import distributed
from edgekit.stages.base import Context, Output
from edgekit.stages.training_recipe import summary as training_summary


def stage_store(recipe: Recipe) -> Store:
    """The stage cache of this run ($EDGEKIT_CACHE/stages), or a private one for --no-cache."""
    store = Store(cache_dir() / "stages", enabled=recipe.cache)
    store.check_usable()
    store.remove_stale_staging()
    return store


class DataLoader:
    """The run's data, loaded once, when a stage first needs it (a fully cached run may never load it)."""

    def __init__(self, setting):
        self.setting, self.bundle, self.seconds = setting, None, 0.0

    def __call__(self):
        if self.bundle is None:
            start, s = time.perf_counter(), self.setting
            probe = meta_model(s.spec, 10, s.img_size)  # the data config only; no weights are allocated
            recipe = s.recipe
            self.bundle = load_data(recipe.data.source, s.img_size, preprocessing(probe), recipe.data.subset,
                                    recipe.seed)
            self.seconds = time.perf_counter() - start
        return self.bundle

    def record(self) -> StageRecord | None:
        b = self.bundle
        return None if b is None else StageRecord(name="data", seconds=round(self.seconds, 2), metrics={
            "dataset": b.name, "train": len(b.train) if b.train else 0, "val": len(b.val),
            "num_classes": b.num_classes})


def show_plan(plan: Plan, runner: Runner, probe: Probe) -> dict:
    """Print the plan (and one line when it is long); returns each node's estimated seconds."""
    seconds = estimates(plan, runner.hits, probe)
    if distributed.is_main():
        console.print(plan_table(plan, runner.hits, seconds))
        if plan.trains:
            info(training_summary(plan.setting.training_recipe, plan.setting.recipe.train))
        line = long_plan_line(plan, seconds)
        if line:
            info(f"[yellow]note:[/] {line}")
    return seconds


def run(recipe: Recipe, command: str = "compress", dry_run: bool = False) -> tuple[dict | None, Path]:
    """Run the chain described by `recipe`; returns the report (None for a dry run) and the run directory."""
    plan = make_plan(recipe)
    distributed.init()
    out = recipe.run_dir()
    store = stage_store(recipe)
    data = DataLoader(plan.setting)
    runner = Runner(plan, store, out, data, recipe.resume)
    probe = Probe(plan.setting)
    try:
        show_plan(plan, runner, probe)
        if dry_run:
            return None, out

        def remember(node, step: Step) -> None:  # what a step took here feeds the next plan's estimates
            if not step.cached:
                probe.history.record(node, plan.setting, step.seconds)

        steps = runner.run([n for n in plan.nodes if n.stage.name != "gate"], on_done=remember)
        probe.history.save()
        if not distributed.is_main():  # torchrun: only rank 0 exports, measures and writes
            distributed.barrier()
            return {}, out
        report, files = build_report(plan, steps, command)
        if (record := data.record()) is not None:
            report["stages"].insert(0, record.model_dump())
        with RunDirectory(out, recipe.overwrite) as run_dir:
            gate = plan.find("gate")
            if gate is not None:
                _run_gate(runner, gate, report, run_dir.staging)
            write_run(run_dir.staging, report, files, steps[plan.final.id].output)
            Report.model_validate(report)
            final = run_dir.commit()
    finally:
        runner.close()
    distributed.barrier()
    return report, final


def _run_gate(runner: Runner, node, report: dict, directory: Path) -> None:
    """The gate reads the finished report; its verdict goes into it (and gate.md / gate.junit.xml beside it)."""
    start = time.perf_counter()
    ctx = Context(runner.plan.setting, directory, runner.run_dir, runner.load_data)
    output = node.stage.run(node, {"report": Output(record=report)}, ctx)
    runner.steps[node.id] = Step(output, time.perf_counter() - start, False)
    report["gate"] = output.record
    report["stages"].append(StageRecord(name="gate", seconds=round(time.perf_counter() - start, 2),
                                        metrics=output.metrics, key=node.key[:16]).model_dump())
