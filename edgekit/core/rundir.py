"""The run directory: built in a hidden staging folder and swapped into place when the run is done."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from edgekit.core.io import no_space_as_error


class RunDirectory:
    """A run directory built in a hidden staging folder (`.NAME.partial-PID`) and swapped into place at the end.

    A failure, a full disk included, leaves an earlier run at the same path untouched. Entering removes the staging
    folders that dead runs left behind.
    """

    def __init__(self, final: Path, overwrite: bool):
        self.final = Path(final)
        self.overwrite = overwrite
        self.staging = self._sibling("partial", os.getpid())

    def _sibling(self, kind: str, pid: int | str) -> Path:
        return self.final.parent / f".{self.final.name}.{kind}-{pid}"

    def __enter__(self) -> "RunDirectory":
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._remove_dead_staging()
        with no_space_as_error(self.staging):
            self.staging.mkdir()
        return self

    def _remove_dead_staging(self) -> None:
        """Staging folders of runs whose process is gone, and this process's own (from an earlier RunDirectory)."""
        for folder in self.final.parent.glob(glob.escape(self._sibling("partial", "").name) + "*"):
            pid = folder.name.rpartition("-")[2]
            if pid.isdigit() and (int(pid) == os.getpid() or not pid_alive(int(pid))):
                shutil.rmtree(folder, ignore_errors=True)

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
        with no_space_as_error(self.final):
            if self.final.exists():
                if not self.overwrite:
                    raise FileExistsError(self.final)
                old = self._sibling("old", os.getpid())
                os.replace(self.final, old)
            try:
                os.replace(self.staging, self.final)
            except BaseException:
                if old is not None:  # put the earlier run back
                    os.replace(old, self.final)
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (assumed where that cannot be told)."""
    if os.name != "posix":  # os.kill would terminate it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True
