"""ExecuTorch runtime session: a .pte program with the XNNPACK delegate, pinned to a thread count."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from edgekit.core.errors import EdgekitError, first_line
from edgekit.runtimes.base import RuntimeSession

log = logging.getLogger(__name__)


# Bumped whenever the pool is recreated: XNNPACK methods capture the pool when they are loaded, so a
# method loaded under an older generation points at a freed pool (hangs or segfaults) and must reload.
_pool_generation = 0


def set_threadpool_size(threads: int) -> int:
    """Make ExecuTorch's process-wide threadpool (used by XNNPACK) `threads` wide; return its generation.

    The pool defaults to one thread per core and there is one per process; resizing recreates it.
    """
    global _pool_generation
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != threads:  # noqa: SLF001 - the only Python hook
        portable_lib._unsafe_reset_threadpool(threads)  # noqa: SLF001
        _pool_generation += 1
    return _pool_generation


class ExecuTorchSession(RuntimeSession):
    """A .pte file run through executorch.runtime, method 'forward'.

    Sessions with different thread counts can coexist, but switching between them reloads the method
    (the pool is shared by the process), so run one thread count at a time for timing.
    """

    name = "executorch"
    runtime_modules = ("executorch.runtime", "executorch.extension.pybindings.portable_lib")

    def __init__(self, path: Path, threads: int):
        super().__init__(path, threads)
        if not self.path.is_file():
            raise EdgekitError(f"artifact '{self.path}' does not exist")
        self._program = self._method = None
        try:
            self._load()
        except EdgekitError:
            raise
        except Exception as exc:  # noqa: BLE001 - the runtime raises plain RuntimeError/ValueError
            raise EdgekitError(f"ExecuTorch cannot load '{self.path}': {first_line(exc)}") from exc
        self.input_shape = _input_shape(self._method)
        self.fixed_batch = self.input_shape[0]

    def _load(self) -> None:
        """(Re)load the program and 'forward' against a pool of `threads` threads.

        The whole program is reloaded because executorch.runtime.Program caches loaded methods.
        """
        from executorch.runtime import Runtime

        self._method = self._program = None  # release the stale XNNPACK runtime first
        self._generation = set_threadpool_size(self.threads)
        self._program = Runtime.get().load_program(self.path)
        self._method = self._program.load_method("forward")
        if self._method is None:
            raise EdgekitError(f"'{self.path}' has no 'forward' method")

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        if set_threadpool_size(self.threads) != self._generation:
            log.debug("threadpool was resized by another session; reloading %s", self.path.name)
            self._load()
        out = self._method.execute([torch.from_numpy(x)])[0]
        return out.detach().numpy().astype(np.float32, copy=True)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"executorch": version("executorch")}


def _input_shape(method) -> tuple[int, ...]:
    """The first input's shape from the method metadata (batch 1 of unknown size when it is unavailable)."""
    try:
        return tuple(int(d) for d in method.metadata.input_tensor_meta(0).sizes())
    except Exception:  # noqa: BLE001 - metadata API differs across versions
        log.debug("no input metadata for %s; assuming batch 1", method)
        return (1,)
