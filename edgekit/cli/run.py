"""`edgekit compress` and `edgekit export`: a recipe from flags, --set and YAML, run through the pipeline."""

from __future__ import annotations

from typing import Any

import typer

from edgekit.cli import schema
from edgekit.cli.app import DryRun, ModelArgOption, OptionalModel, RecipeFile, SetOption, app
from edgekit.core.errors import EdgekitError, UntraceableModel
from edgekit.core.ui import console, info

COMPRESS_OPTIONS = schema.options(schema.all_paths())
EXPORT_PATHS = ("model_module", "data.source", "data.img_size", "data.num_classes", "data.eval_samples", "teacher.weights",
                "teacher.pretrained", "export.formats", "export.parity_samples", "export.parity_atol",
                "export.min_agreement_fp32", "export.min_agreement_int8", "out", "overwrite", "seed", "cache")
EXPORT_OPTIONS = [schema.option("data.source", help="inputs for parity (and accuracy, when labelled)",
                                default="synthetic") if path == "data.source" else schema.option(path)
                  for path in EXPORT_PATHS]
#: `export` writes and verifies files only: no training, no timing
EXPORT_FIXED = {"train.epochs": 0, "teacher.train": False, "bench.enabled": False}


def model_arg_assignment(text: str) -> str:
    """`--model-arg KEY=VALUE` as the `--set` assignment of teacher.model_args.KEY."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise EdgekitError(f"--model-arg '{text}' must be KEY=VALUE, e.g. --model-arg threshold=0.4")
    return f"teacher.model_args.{key.strip()}={value}"


def run_recipe(command: str, flags: dict[str, Any], recipe_file=None, assignments=None, dry_run: bool = False) -> int:
    """Load the recipe, run the pipeline, print the result; returns the exit code."""
    from edgekit.core.recipe import load_recipe

    recipe, legacy = load_recipe(recipe_file, flags, assignments)  # bad options fail here, before torch loads
    from edgekit.bench.gate import exit_code, untraceable
    from edgekit.bench.gate_output import print_gate
    from edgekit.bench.report import terminal_table
    from edgekit.pipeline import run

    if legacy:
        info(f"[yellow]note:[/] recipe '{recipe_file}' uses pre-nesting keys ({', '.join(legacy)}); they still load")
    report, final = run(recipe, command=command, dry_run=dry_run)
    if report is None:
        return 0
    if not report:  # a torchrun rank other than 0
        return 0
    console.print(terminal_table(report))
    if report.get("gate"):
        print_gate(report["gate"])
    info(f"run directory: {final}")
    if (line := untraceable(report)) is not None:
        raise UntraceableModel(line)  # one line, exit code 2: the files that could be written are in the run directory
    return exit_code(report) if command == "compress" else (0 if report["ok"] else 1)


def compress(ctx: typer.Context, model: OptionalModel = None, recipe: RecipeFile = None, set_: SetOption = None,
             model_arg: ModelArgOption = None, dry_run: DryRun = False, **options: Any) -> None:
    """Train/load → prune → distil → INT8 → export → verify → benchmark → gate; writes a run directory.

    Every step is a cached stage: a rerun reuses whatever did not change (see the plan it prints first).
    """
    flags = {"model": model, **schema.given(ctx, options, COMPRESS_OPTIONS)}
    assignments = [*(set_ or []), *(model_arg_assignment(text) for text in model_arg or [])]
    raise typer.Exit(run_recipe("compress", flags, recipe, assignments, dry_run))


def export(ctx: typer.Context, model: OptionalModel = None, dry_run: DryRun = False, **options: Any) -> None:
    """Export a model or checkpoint to each format and verify every file in its runtime (no training, no timing)."""
    flags = {"model": model, **schema.given(ctx, options, EXPORT_OPTIONS), **EXPORT_FIXED,
             "data.source": options["data__source"]}
    raise typer.Exit(run_recipe("export", flags, dry_run=dry_run))


app.command(name="compress")(schema.command(compress, COMPRESS_OPTIONS))
app.command(name="export")(schema.command(export, EXPORT_OPTIONS))
