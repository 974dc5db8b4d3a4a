"""Thin Typer CLI: parse flags → Recipe → pipeline; every user error is one line, formatted in one place.

One module per command group: run.py (compress, export), measure.py (bench, check), models.py (models, analyze),
cache.py (cache ls|clear). Their options come from the recipe schema (edgekit.cli.schema).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path

import typer

from edgekit.cli import cache, devices, measure, models, run  # noqa: F401 - each registers its commands on `app`
from edgekit.cli.app import app
from edgekit.core.errors import EXIT_INTERNAL, EXIT_USAGE, EdgekitError, first_line
from edgekit.core.io import disk_full

#: click's exception base as Typer vendors it (reached through Typer's public BadParameter)
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def int8_mode_shorthand(argv: list[str]) -> list[str]:
    """`--int8 ptq` / `--int8 qat` (the documented shorthand) -> `--int8 --int8-mode ptq|qat`."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg in ("ptq", "qat") and i > 0 and argv[i - 1] == "--int8":
            out += ["--int8-mode", arg]
        else:
            out.append(arg)
    return out


def _fail(message: str, code: int) -> None:
    typer.echo(f"edgekit: error: {message}", err=True)
    sys.exit(code)


def main() -> None:
    """Console entry point: one line and exit code 2 for user errors; tracebacks only with EDGEKIT_DEBUG=1."""
    debug = os.environ.get("EDGEKIT_DEBUG") == "1"
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING)
    try:
        code = app(args=int8_mode_shorthand(sys.argv[1:]), standalone_mode=False)
    except EdgekitError as exc:
        if debug:
            raise
        _fail(first_line(exc) if str(exc).strip() else type(exc).__name__, exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `edgekit`: the help was shown
            sys.exit(0)
        _fail(exc.format_message(), EXIT_USAGE)
    except typer.Abort:
        typer.echo("edgekit: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("edgekit: interrupted; earlier results are untouched", err=True)
        sys.exit(130)
    except OSError as exc:
        if debug:
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # a write outside edgekit's own atomic helpers (a plot)
            error = disk_full(Path(os.fsdecode(exc.filename)) if exc.filename else Path.cwd())
            _fail(f"{error}; earlier results are untouched", error.exit_code)
        _fail(f"internal error: {type(exc).__name__}: {first_line(exc)} (set EDGEKIT_DEBUG=1 for the traceback)",
              EXIT_INTERNAL)
    except Exception as exc:
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {first_line(exc)} (set EDGEKIT_DEBUG=1 for the traceback)",
              EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
