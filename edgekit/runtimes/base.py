"""Runtime sessions: load an exported file and run it on NCHW float32 batches."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.registry import Registry


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


# format name -> "module:Class" of a RuntimeSession subclass, imported on use
RUNTIMES: Registry[str] = Registry("runtime")
RUNTIMES.add("onnx", "edgekit.runtimes.onnxruntime:OrtSession", aliases=("onnxruntime",))
RUNTIMES.add("tflite", "edgekit.runtimes.litert:LiteRTSession", aliases=("litert",))
RUNTIMES.add("pte", "edgekit.runtimes.executorch:ExecuTorchSession", aliases=("executorch",))


def open_session(path: Path, threads: int = 1, format_name: str | None = None) -> RuntimeSession:
    """Load `path` in the runtime of its format (by suffix unless `format_name` is given)."""
    from edgekit.exporters import FORMATS, format_for_path

    spec = FORMATS.get(format_name) if format_name else format_for_path(path)
    spec.check_installed()
    if not Path(path).is_file():
        raise EdgekitError(f"artifact '{path}' does not exist")
    module_name, cls_name = RUNTIMES.get(spec.name).split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(Path(path), threads)
