"""`edgekit models` (the zoo) and `edgekit analyze` (pruning sensitivity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit.cli import schema
from edgekit.cli.app import AsJson, Model, app
from edgekit.core.errors import EdgekitError

MODELS_OPTIONS = [schema.option("model_module")]
ANALYZE_OPTIONS = [schema.option("data.source", help="labelled data gives the top-1 drop; else output distortion",
                                 default="synthetic"),
                   *schema.options(["model_module", "data.img_size", "teacher.weights", "prune.round_to",
                                    "prune.ignore", "seed"]),
                   schema.option("out", help="directory for sensitivity.json/.png (default runs/<model>-sensitivity)")]


def load_model_modules(value: str | None) -> None:
    """--model-module a,b: import each so that its models register."""
    from edgekit.models.plugins import load_modules

    load_modules(part.strip() for part in (value or "").split(",") if part.strip())


def models(as_json: AsJson = False, **options: Any) -> None:
    """List the registered models (the zoo and model plugins): family, timm id, default size, params and MACs."""
    from edgekit.core.ui import console
    from edgekit.models.catalog import catalog, catalog_table

    load_model_modules(options["model_module"])
    rows = catalog()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console.print(catalog_table(rows))


def analyze(model: Model,
            sensitivity: Annotated[bool, typer.Option(
                "--sensitivity", help="prune each layer group alone and measure the cost")] = False,
            ratios: Annotated[str, typer.Option("--ratios", help="comma list of channel ratios to try")] = "0.1,0.3,0.5",
            samples: Annotated[int, typer.Option("--samples", min=1, help="validation images per measurement")] = 64,
            as_json: AsJson = False, **options: Any) -> None:
    """Analyse a model for pruning: per-group sensitivity table and plot (guides --prune-ignore / prune.ratios)."""
    from edgekit.core.options import PruneOptions
    from edgekit.core.ui import console, info
    from edgekit.pruning.analysis import dumps, run_analysis, table

    if not sensitivity:
        raise EdgekitError("edgekit analyze needs an analysis to run: pass --sensitivity")
    load_model_modules(options["model_module"])
    prune = PruneOptions(round_to=options["prune__round_to"], ignore=options["prune__ignore"] or [])
    out = options["out"]
    result, directory = run_analysis(model, options["data__source"], options["data__img_size"], ratios,
                                     Path(out) if out else None, weights=options["teacher__weights"], samples=samples,
                                     round_to=prune.round_to, ignore=prune.ignore, seed=options["seed"])
    if as_json:
        typer.echo(dumps(result))
    else:
        console.print(table(result))
    info(f"sensitivity: {directory / 'sensitivity.json'} and {directory / 'sensitivity.png'}")


app.command(name="models")(schema.command(models, MODELS_OPTIONS))
app.command(name="analyze")(schema.command(analyze, ANALYZE_OPTIONS))
