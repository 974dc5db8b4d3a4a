"""TensorRT session: deserialize an engine file and run NCHW float32 batches on a CUDA GPU.

Device buffers are torch CUDA tensors. TensorRT 8.5+ (all of 10.x and 11.x) uses the name-based API
(`set_input_shape`, `set_tensor_address`, `execute_async_v3`); TensorRT 8.0-8.4 the binding-index one
(`set_binding_shape`, `execute_v2`). `tensorrt` and CUDA are needed only when a session opens: without them it is
one EdgekitError line. An engine only loads in the TensorRT version (and on the GPU kind) that built it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError, first_line
from edgekit.runtimes.base import RuntimeSession

_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "UINT8": "uint8",
           "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


@dataclass(frozen=True)
class IOTensor:
    """One engine input or output as the engine declares it (-1 for a dynamic dimension)."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: str
    index: int
    batch_range: tuple[int, int] | None = None  # optimisation profile 0's (min, max) batch, inputs only


def import_tensorrt():
    """The `tensorrt` module, or a one-line EdgekitError saying how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise EdgekitError("the 'tensorrt' Python module is not installed: pip install tensorrt (x86-64/SBSA) or, "
                           "on Jetson, JetPack's python3-libnvinfer") from None
    except Exception as exc:  # noqa: BLE001 - a broken install raises OSError (missing libnvinfer) and others
        raise EdgekitError(f"'tensorrt' cannot be imported: {first_line(exc, 200)}") from exc
    return tensorrt


def import_torch_cuda(device: int = 0):
    """torch with a usable CUDA device `device`, or a one-line EdgekitError."""
    import torch

    if not torch.cuda.is_available():
        raise EdgekitError("a TensorRT session needs an NVIDIA GPU with CUDA: torch.cuda.is_available() is False "
                           f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'})")
    if device >= torch.cuda.device_count():
        raise EdgekitError(f"CUDA device {device} does not exist ({torch.cuda.device_count()} found)")
    return torch


def dtype_name(data_type) -> str:
    """numpy/torch dtype name of a tensorrt.DataType (FLOAT -> float32, HALF -> float16, ...)."""
    key = getattr(data_type, "name", None) or str(data_type).rsplit(".", 1)[-1]
    if key not in _DTYPES:
        raise EdgekitError(f"TensorRT data type {key} is not supported by this session")
    return _DTYPES[key]


def io_tensors(engine, trt) -> list[IOTensor]:
    """The engine's inputs and outputs, through whichever API its TensorRT version has."""
    tensors = []
    if hasattr(engine, "num_io_tensors"):  # 8.5+, the only API in 10.x / 11.x
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            batch_range = None
            if is_input and shape and shape[0] == -1:
                low, _, high = engine.get_tensor_profile_shape(name, 0)
                batch_range = (int(low[0]), int(high[0]))
            tensors.append(IOTensor(name, is_input, shape, dtype_name(engine.get_tensor_dtype(name)), i, batch_range))
    elif hasattr(engine, "num_bindings"):  # 8.0-8.4
        for i in range(engine.num_bindings):
            is_input = bool(engine.binding_is_input(i))
            shape = tuple(int(d) for d in engine.get_binding_shape(i))
            batch_range = None
            if is_input and shape and shape[0] == -1:
                low, _, high = engine.get_profile_shape(0, i)
                batch_range = (int(low[0]), int(high[0]))
            tensors.append(IOTensor(engine.get_binding_name(i), is_input, shape,
                                    dtype_name(engine.get_binding_dtype(i)), i, batch_range))
    else:
        raise EdgekitError("this TensorRT engine object has neither the tensor nor the binding API")
    return tensors


def input_shape_for(tensor: IOTensor, x_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The concrete input shape for a batch of `x_shape`, checked against the engine's declaration and profile."""
    if len(x_shape) != len(tensor.shape):
        raise EdgekitError(f"engine input '{tensor.name}' has {len(tensor.shape)} dimensions "
                           f"{tensor.shape}; got an array of shape {tuple(x_shape)}")
    for declared, got in zip(tensor.shape[1:], x_shape[1:]):
        if declared not in (-1, got):
            raise EdgekitError(f"engine input '{tensor.name}' is {tensor.shape}; got an array of shape "
                               f"{tuple(x_shape)}")
    batch = x_shape[0]
    if tensor.shape[0] not in (-1, batch):
        raise EdgekitError(f"engine input '{tensor.name}' has a fixed batch of {tensor.shape[0]}; got {batch}")
    if tensor.batch_range and not tensor.batch_range[0] <= batch <= tensor.batch_range[1]:
        low, high = tensor.batch_range
        raise EdgekitError(f"engine input '{tensor.name}' was built for batch {low}..{high}; got {batch}")
    return tuple(x_shape)


class TensorRTSession(RuntimeSession):
    """A TensorRT engine (.engine / .plan) on CUDA device `device`; `threads` is recorded, not used."""

    name = "tensorrt"
    runtime_modules = ("tensorrt",)

    def __init__(self, path: Path, threads: int = 1, device: int = 0):
        super().__init__(path, threads)
        trt = import_tensorrt()
        torch = import_torch_cuda(device)
        if not self.path.is_file():
            raise EdgekitError(f"engine '{self.path}' does not exist")
        logger = trt.Logger(trt.Logger.ERROR)
        runtime = trt.Runtime(logger)
        try:
            engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        except Exception as exc:  # noqa: BLE001
            raise EdgekitError(f"TensorRT cannot load '{self.path.name}': {first_line(exc, 200)}") from exc
        if engine is None:
            raise EdgekitError(f"TensorRT {trt.__version__} cannot load '{self.path.name}' (an engine only loads in "
                               "the TensorRT version and on the GPU kind that built it)")
        self._runtime = runtime  # keep alive: the engine refers to it
        self._setup(trt, torch, engine, torch.device("cuda", device))

    def _setup(self, trt, torch, engine, device) -> None:
        """Bind the engine's I/O description (also used by tests with stand-in modules)."""
        self._trt, self._torch, self._engine, self._device = trt, torch, engine, device
        self._tensors = io_tensors(engine, trt)
        inputs = [t for t in self._tensors if t.is_input]
        self._outputs = [t for t in self._tensors if not t.is_input]
        if len(inputs) != 1 or not self._outputs:
            raise EdgekitError(f"'{self.path.name}': expected one input and at least one output, found "
                               f"{len(inputs)} inputs and {len(self._outputs)} outputs")
        self._input = inputs[0]
        self._v3 = hasattr(engine, "num_io_tensors")
        self.input_shape = tuple(None if d == -1 else d for d in self._input.shape)
        low_high = self._input.batch_range
        if self._input.shape[0] != -1:
            self.fixed_batch = self._input.shape[0]
        elif low_high and low_high[0] == low_high[1]:
            self.fixed_batch = low_high[0]
        self._context = engine.create_execution_context()
        if self._context is None:
            raise EdgekitError(f"'{self.path.name}': TensorRT could not create an execution context "
                               "(out of GPU memory?)")

    def _torch_dtype(self, name: str):
        return getattr(self._torch, name)

    def _stream(self):
        if self._device.type == "cpu":  # stand-in tests only
            return 0, lambda: None
        stream = self._torch.cuda.current_stream(self._device)
        return stream.cuda_stream, stream.synchronize

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        torch, ctx = self._torch, self._context
        shape = input_shape_for(self._input, x.shape)
        src = torch.from_numpy(np.ascontiguousarray(x, dtype=self._input.dtype)).to(self._device)
        handle, synchronize = self._stream()
        buffers = {}
        if self._v3:
            if ctx.set_input_shape(self._input.name, shape) is False:
                raise EdgekitError(f"TensorRT rejected input shape {shape} for '{self._input.name}'")
            ctx.set_tensor_address(self._input.name, src.data_ptr())
            for out in self._outputs:
                out_shape = tuple(int(d) for d in ctx.get_tensor_shape(out.name))
                buffers[out.name] = torch.empty(out_shape, dtype=self._torch_dtype(out.dtype), device=self._device)
                ctx.set_tensor_address(out.name, buffers[out.name].data_ptr())
            ok = ctx.execute_async_v3(handle)
            synchronize()
        else:
            if ctx.set_binding_shape(self._input.index, shape) is False:
                raise EdgekitError(f"TensorRT rejected input shape {shape} for '{self._input.name}'")
            bindings = [0] * len(self._tensors)
            bindings[self._input.index] = src.data_ptr()
            for out in self._outputs:
                out_shape = tuple(int(d) for d in ctx.get_binding_shape(out.index))
                buffers[out.name] = torch.empty(out_shape, dtype=self._torch_dtype(out.dtype), device=self._device)
                bindings[out.index] = buffers[out.name].data_ptr()
            ok = ctx.execute_v2(bindings)
        if not ok:
            raise EdgekitError(f"TensorRT failed to run '{self.path.name}' at batch {shape[0]}")
        first = buffers[self._outputs[0].name]
        return first.float().cpu().numpy().astype(np.float32, copy=False)

    def versions(self) -> dict[str, str]:
        return {"tensorrt": str(getattr(self._trt, "__version__", "unknown"))}
