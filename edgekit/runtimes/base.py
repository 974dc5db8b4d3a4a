"""Runtime sessions: load an exported file and run it on NCHW float32 batches."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.formats import FORMATS, FormatSpec, format_for_path


class RuntimeSession(ABC):
    """A loaded model in its own runtime, pinned to a thread count."""

    name: str = "runtime"
    #: the batch size the file was exported with (None: any batch size)
    fixed_batch: int | None = None
    #: the input shape as the file declares it (dynamic dimensions as None)
    input_shape: tuple[int | None, ...] = ()
    #: modules the runtime needs, imported lazily by __init__ (see import_runtime)
    runtime_modules: tuple[str, ...] = ()

    @classmethod
    def import_runtime(cls) -> None:
        """Import the runtime library up front, so cold-start timing separates import from load."""
        for module in cls.runtime_modules:
            importlib.import_module(module)

    def __init__(self, path: Path, threads: int):
        self.path = Path(path)
        self.threads = threads

    @abstractmethod
    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        """Run one batch the file accepts as-is; return logits as float32 (N×classes)."""

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run any batch size: split into the file's fixed batch when it has one."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.fixed_batch is None or x.shape[0] == self.fixed_batch:
            return self._run_batch(x)
        step = self.fixed_batch
        if x.shape[0] % step:
            raise EdgekitError(f"{self.path.name}: batch {x.shape[0]} is not a multiple of the file's batch {step}")
        return np.concatenate([self._run_batch(x[i:i + step]) for i in range(0, x.shape[0], step)])

    def versions(self) -> dict[str, str]:
        """Runtime library versions for the report."""
        return {}


def session_class(fmt: str | FormatSpec) -> type[RuntimeSession]:
    """The RuntimeSession class that loads files of `fmt` (a format name or formats-table row)."""
    spec = FORMATS.get(fmt) if isinstance(fmt, str) else fmt
    module_name, cls_name = spec.session.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def open_session(path: Path, threads: int = 1, format_name: str | None = None) -> RuntimeSession:
    """Load `path` in the runtime of its format (by suffix unless `format_name` is given)."""
    spec = FORMATS.get(format_name) if format_name else format_for_path(path)
    spec.check_installed()
    if not Path(path).is_file():
        raise EdgekitError(f"artifact '{path}' does not exist")
    return session_class(spec)(Path(path), threads)
