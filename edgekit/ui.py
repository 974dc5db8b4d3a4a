"""Console output: one stderr console, progress bars for long work."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False)
if not console.is_terminal:  # logs and CI: wide enough for the report table
    console = Console(stderr=True, highlight=False, width=160)


def progress() -> Progress:
    """A progress bar with count, elapsed time, ETA and a free-text status field."""
    return Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
        console=console, transient=False, disable=not console.is_terminal,
    )


def info(message: str) -> None:
    console.print(message)
