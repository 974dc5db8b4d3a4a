"""Progress bars and the console fit an 80-column terminal."""

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from edgekit.core.ui import WIDTH, progress

LONG_DESCRIPTION = "max-drop: int8 (onnxruntime)"
LONG_STATUS = "epoch 1/3 loss 0.123 1234 img/s"


def render_lines(renderable, width: int) -> list[str]:
    out = Console(file=io.StringIO(), width=width, color_system=None)
    out.print(renderable)
    return out.file.getvalue().splitlines()


@pytest.mark.parametrize("terminal_width", [80, 200])
def test_a_progress_line_fits_80_columns_and_cuts_long_text_with_an_ellipsis(terminal_width):
    bar = progress()
    bar.add_task(LONG_DESCRIPTION, total=60000, completed=30000, status=LONG_STATUS)
    (line,) = render_lines(bar.get_renderable(), terminal_width)  # one line: nothing wrapped
    assert len(line) <= WIDTH
    assert "30000/60000" in line and "eta" in line
    assert line.count("…") == 2 and "max-drop" in line and "epoch 1/3" in line


def test_short_progress_text_is_shown_whole():
    bar = progress()
    bar.add_task("qat", total=120, completed=7, status="top-1 91.20%")
    (line,) = render_lines(bar.get_renderable(), 80)
    assert "qat" in line and "7/120" in line and "top-1 91.20%" in line and "…" not in line


def test_output_that_is_not_a_terminal_is_80_columns_wide():
    code = "from edgekit.core.ui import console; print(console.width)"
    env = {**os.environ, "COLUMNS": "200"}  # rich would take this width without the fixed one
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "80"
