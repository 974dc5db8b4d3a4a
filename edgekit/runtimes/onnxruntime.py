"""onnxruntime session (CPU execution provider) pinned to a thread count, and the int8 form its kernels run exactly
on this host."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError, first_line
from edgekit.runtimes.base import RuntimeSession


def int8_weight_type() -> str:
    """How an int8 .onnx should store its weights for this host's onnxruntime: 'uint8' or 'int8'.

    onnxruntime's x86 u8·s8 kernels without VNNI (AVX2 only) multiply with VPMADDUBSW, whose int16 pair sums
    saturate; its u8·u8 kernels widen to int16 first and do not. With VNNI (and on Arm) u8·s8 is exact.
    """
    from edgekit.runtimes.worker import cpu_info

    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
    return "uint8" if x86 and not {"avx512_vnni", "avx_vnni"} & set(cpu_info()[1]) else "int8"


def host_export_defaults() -> dict[str, str]:
    """The ONNX exporter's keywords whose 'auto' depends on this host, resolved (they key int8 exports)."""
    return {"int8_weights": int8_weight_type()}


class OrtSession(RuntimeSession):
    """An .onnx file in onnxruntime's CPU EP."""

    name = "onnxruntime"
    runtime_modules = ("onnxruntime",)

    def __init__(self, path: Path, threads: int):
        super().__init__(path, threads)
        import onnxruntime as ort

        if not self.path.is_file():
            raise EdgekitError(f"artifact '{self.path}' does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # session.intra_op.allow_spinning stays at its default: with 1 thread there is no worker pool
        # (measured process/wall = 1.00 either way); with 2 threads turning spinning off cost ~50% latency
        # (efficientnet_lite0 @160: 4.9 vs 3.3 ms) while the extra CPU stays within the threads asked for.
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise EdgekitError(f"onnxruntime cannot load '{self.path}': {first_line(exc)}") from exc
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.input_shape = tuple(d if isinstance(d, int) else None for d in inp.shape)

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        out = self._session.run(None, {self._input: x})[0]
        return np.asarray(out, dtype=np.float32)

    def versions(self) -> dict[str, str]:
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__}
