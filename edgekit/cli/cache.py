"""`edgekit cache ls|clear`: what the stage cache holds (size, age, what each entry is), and removing it."""

from __future__ import annotations

import json
import shutil
import time
from typing import Annotated, Optional

import typer

from edgekit.cli.app import AsJson, app

cache_app = typer.Typer(no_args_is_help=True, help="The stage cache ($EDGEKIT_CACHE/stages): list or clear entries.")
app.add_typer(cache_app, name="cache")


def _store():
    from edgekit.core.cache import Store
    from edgekit.core.paths import cache_dir

    return Store(cache_dir() / "stages")


def rows() -> list[dict]:
    """One row per cache entry: stage, key, size, age, what it is (unreadable entries included, marked)."""
    from edgekit.core.cache import folder_size

    out = []
    for folder, meta in _store().entries():
        meta = meta or {}
        out.append({"stage": folder.parent.name, "key": folder.name, "size_bytes": folder_size(folder),
                    "age_s": round(time.time() - meta.get("created", folder.stat().st_mtime)),
                    "model": meta.get("model"), "node": meta.get("node"),
                    "what": meta.get("describe") or ("unreadable entry" if not meta else ""), "path": str(folder)})
    return out


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


@cache_app.command("ls")
def ls(as_json: AsJson = False) -> None:
    """List the cached stage outputs: stage, model, what, size, age."""
    from rich.table import Table

    from edgekit.core.ui import console

    entries = rows()
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    total = sum(r["size_bytes"] for r in entries)
    table = Table(title=f"{len(entries)} cache entries, {total / 1e6:.1f} MB in {_store().root}", title_justify="left")
    for column in ("step", "model", "what", "MB", "age"):
        table.add_column(column, justify="right" if column in ("MB", "age") else "left",
                         overflow="ellipsis", no_wrap=column != "what")
    for r in entries:
        table.add_row(r["node"] or r["stage"], r["model"] or "?", r["what"], f"{r['size_bytes'] / 1e6:.1f}",
                      _age(r["age_s"]))
    console.print(table)


@cache_app.command("clear")
def clear(stage: Annotated[Optional[str], typer.Option("--stage", help="only this stage's entries")] = None,
          older_than: Annotated[Optional[float], typer.Option(
              "--older-than", help="only entries older than this many days", min=0)] = None) -> None:
    """Remove cached stage outputs (all, one stage's, or those older than N days)."""
    from edgekit.core.ui import info
    from edgekit.stages import STAGES

    if stage is not None:
        stage = STAGES.canonical(stage)
    removed = freed = 0
    for row in rows():
        if (stage is None or row["stage"] == stage) and (older_than is None or row["age_s"] > older_than * 86400):
            shutil.rmtree(row["path"], ignore_errors=True)
            removed, freed = removed + 1, freed + row["size_bytes"]
    info(f"cache: removed {removed} entr{'y' if removed == 1 else 'ies'}, {freed / 1e6:.1f} MB")
