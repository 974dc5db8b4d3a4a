"""The Typer application and the option aliases shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode="rich",
                  help="Compress, export, verify and benchmark vision models for phones, Jetson boards and edge CPUs.")

Model = Annotated[str, typer.Argument(help="zoo name (see `edgekit models`), timm:<name>, or a checkpoint directory")]
OptionalModel = Annotated[Optional[str], typer.Argument(
    help="zoo name, timm:<name> or checkpoint dir (optional when --recipe names the model)", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON on stdout")]
RecipeFile = Annotated[Optional[Path], typer.Option("--recipe", help="YAML recipe (nested sections; flags override "
                                                                     "it)", rich_help_panel="Run")]
SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", help="set any recipe option: --set prune.steps=3 (repeatable; see docs/options.md)",
    rich_help_panel="Run", show_default=False)]
ModelArgOption = Annotated[Optional[list[str]], typer.Option(
    "--model-arg", help="a keyword argument of the model's factory: --model-arg threshold=0.4 (repeatable; "
                        "keys the teacher, kept in model.json)", rich_help_panel="Run", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="print the plan (cache hits, time estimates) and exit",
                                      rich_help_panel="Run")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False) -> None:
    """Compress, export, verify and benchmark vision models for phones, Jetson boards and edge CPUs."""
