"""Console output: one stderr console, progress bars and compact tables, all laid out for 80 columns."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from typing import Iterator

from rich import box
from rich.console import Console, RenderableType
from rich.constrain import Constrain
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

WIDTH = 80  # columns every table and progress bar is laid out for
BAR_WIDTH = 12

console = Console(stderr=True, highlight=False)
if not console.is_terminal:  # logs and CI: a standard terminal's width
    console = Console(stderr=True, highlight=False, width=WIDTH)


class _ClippedText(TextColumn):
    """Free text that is cut with an ellipsis, never wrapped, when the line runs short of room."""

    def __init__(self, text_format: str) -> None:
        super().__init__(text_format, table_column=Column())  # TextColumn's default column may not shrink

    def render(self, task: Task) -> Text:
        text = super().render(task)
        text.no_wrap, text.overflow = True, "ellipsis"
        return text


class _BoundedProgress(Progress):
    """Progress lines at most WIDTH columns wide, even on a wider terminal."""

    def get_renderables(self) -> Iterator[RenderableType]:
        yield Constrain(self.make_tasks_table(self.tasks), WIDTH)


def progress() -> Progress:
    """A progress bar with count, elapsed time, ETA and a free-text status field, in at most WIDTH columns.

    Description and status share what the fixed columns leave; the longer one is cut first.
    """
    return _BoundedProgress(
        SpinnerColumn(), _ClippedText("[bold]{task.description}"), BarColumn(bar_width=BAR_WIDTH),
        MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        _ClippedText("{task.fields[status]}"), console=console, transient=False, disable=not console.is_terminal,
    )


def narrow_table(title: str | None = None, gap: int = 2) -> Table:
    """A borderless table (a rule under the header, `gap` spaces between columns) that spends its width on data."""
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, gap - 1),
                 collapse_padding=True)


def info(message: str) -> None:
    console.print(message)


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[None]:
    """Keep C++ libraries' log lines (absl, XNNPACK, ExecuTorch) off the terminal.

    They write to file descriptor 2 directly, below Python's sys.stderr. What they print is kept at DEBUG
    level (EDGEKIT_DEBUG=1 shows everything live).
    """
    if os.environ.get("EDGEKIT_DEBUG") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                logging.getLogger("edgekit.native").debug("%s", text)


@contextlib.contextmanager
def quiet_export():
    """Silence the warnings and stdout chatter exporters emit; errors still propagate."""
    noisy = ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript", "torch._export", "nncf")
    levels = {name: logging.getLogger(name).level for name in noisy}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def quiet_trace():
    """`quiet_export` for a bare torch.export call: also drops what torch prints to stderr (the partial graph of a
    model it cannot trace, which edgekit's one-line error replaces)."""
    with quiet_export(), contextlib.redirect_stderr(io.StringIO()):
        yield
