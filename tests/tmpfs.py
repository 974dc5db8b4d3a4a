"""A small real tmpfs for disk-full tests (mounting needs root: the test is skipped, saying so, when refused)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def mounted(folder: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. "3m") on `folder` for the duration of the block."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"a full disk needs a small tmpfs, and mount was refused: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """Take all but about `leave` bytes of the file system holding `folder` with one filler file; returns it."""
    filler = folder / "filler"
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(folder).free - leave)
    assert shutil.disk_usage(folder).free <= leave + 8192
    return filler
