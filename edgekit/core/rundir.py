"""The run directory: built in a hidden staging folder and swapped into place when the run is done."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class RunDirectory:
    """A run directory built in a hidden staging folder and swapped into place at the end.

    A failure leaves an earlier run at the same path untouched.
    """

    def __init__(self, final: Path, overwrite: bool):
        self.final = Path(final)
        self.overwrite = overwrite
        self.staging = self.final.parent / f".{self.final.name}.partial-{os.getpid()}"

    def __enter__(self) -> "RunDirectory":
        self.final.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        return self

    def path(self, *parts: str) -> Path:
        target = self.staging.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def subdir(self, name: str) -> Path:
        target = self.staging / name
        target.mkdir(parents=True, exist_ok=True)
        return target

    def commit(self) -> Path:
        """Move the finished staging folder to its final path (replacing an old run if allowed)."""
        old = None
        if self.final.exists():
            if not self.overwrite:
                raise FileExistsError(self.final)
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
            os.replace(self.final, old)
        os.replace(self.staging, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
