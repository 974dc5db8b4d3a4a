"""LiteRT interpreter session (XNNPACK delegate applied by default) pinned to a thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError, first_line
from edgekit.runtimes.base import RuntimeSession
from edgekit.runtimes.worker import dequantize_output, quantize_input


class LiteRTSession(RuntimeSession):
    """A .tflite file in the LiteRT interpreter; litert-torch keeps the NCHW interface of the model."""

    name = "litert"
    runtime_modules = ("ai_edge_litert.interpreter",)

    def __init__(self, path: Path, threads: int):
        super().__init__(path, threads)
        from ai_edge_litert.interpreter import Interpreter

        if not self.path.is_file():
            raise EdgekitError(f"artifact '{self.path}' does not exist")
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise EdgekitError(f"LiteRT cannot load '{self.path}': {first_line(exc)}") from exc
        self._in = self._interpreter.get_input_details()[0]
        self._out = self._interpreter.get_output_details()[0]
        self.fixed_batch = int(self._in["shape"][0])
        self.input_shape = tuple(int(d) for d in self._in["shape"])

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        expected = tuple(int(d) for d in self._in["shape"])
        if x.shape != expected:
            raise EdgekitError(f"{self.path.name}: input shape {x.shape} does not match the file's {expected}")
        self._interpreter.set_tensor(self._in["index"], quantize_input(x, self._in))
        self._interpreter.invoke()
        return dequantize_output(self._interpreter.get_tensor(self._out["index"]), self._out)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"ai-edge-litert": version("ai-edge-litert")}
