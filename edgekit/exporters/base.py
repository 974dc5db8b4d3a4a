"""Write a model in one format of the formats table (edgekit.core.formats)."""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from edgekit.core.child import run_isolated
from edgekit.core.errors import UNTRACEABLE, EdgekitError, UntraceableModel, first_line
from edgekit.core.formats import FORMATS, FormatSpec
from edgekit.core.io import no_space_as_error
from edgekit.models.control_flow import control_flow, control_flow_note

#: the start of the note of an ONNX file the TorchScript fallback wrote (a failed parity check quotes it)
DYNAMO_FAILED = "dynamo exporter failed"
#: where torch.export's errors name the user's line that could not be traced
_USER_LINE = re.compile(r'The following call raised this error:\s*\n\s*File "([^"]+)", line (\d+), in (\S+)\n[ \t]*(\S[^\n]*)')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: a converter still running after this long (hung in its child process) is stopped with a one-line error
EXPORT_TIMEOUT_S = 3600.0


#: packages whose frames are never "the model's line" when an error is traced back
_LIBRARY_DIRS = ("/torch/", "/torchao/", "/executorch/", "/litert_torch/", "/onnxscript/", "/edgekit/exporters/",
                 "/edgekit/core/", "/contextlib.py", "/importlib/")


def _chain(exc: BaseException) -> list[BaseException]:
    chain = [exc]
    while len(chain) < 8 and (chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    return chain


def _model_line(chain: list[BaseException]) -> tuple[str, str, str, str] | None:
    """(file, line, function, code) of the model's line an error came from: where torch.export's message names
    it, else the innermost traceback frame outside torch and the exporters (non-strict tracing runs the model's
    own Python, so its frames are on the stack)."""
    for exc in chain:
        found = _USER_LINE.search(str(exc))
        if found is not None:
            return found.groups()
    for exc in reversed(chain):
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not any(part in f.filename.replace("\\", "/") for part in _LIBRARY_DIRS)]
        if frames:
            frame = frames[-1]
            return frame.filename, str(frame.lineno), frame.name, frame.line or ""
    return None


def _raised_while_tracing(chain: list[BaseException]) -> bool:
    """Whether an error came out of torch.export's tracing of the model (not the converter's later lowering)."""
    return any(f.filename.replace("\\", "/").endswith(("torch/export/_trace.py", "torch/export/__init__.py"))
               for exc in chain for f in traceback.extract_tb(exc.__traceback__))


def trace_failure(exc: BaseException, limit: int = 200) -> str:
    """One line for an exception from tracing a model: the type and first line of its root cause (exporters wrap
    torch.export's errors) and the model's line it could not trace (Python control flow on a tensor's value, an
    unsupported op), where one is found."""
    chain = _chain(exc)
    root = next((e for e in reversed(chain) if not isinstance(e, EdgekitError)), chain[-1])
    line = f"{type(root).__name__}: {_ANSI.sub('', first_line(root, limit))}"
    where = _model_line(chain)
    if where is not None:
        file, number, function, code = where
        line += f" (at {Path(file).name}:{number} in {function}" + (f": {code.strip()[:80]})" if code.strip() else ")")
    return line


def export_failure(what: str, fmt: str, exc: BaseException) -> EdgekitError:
    """The one-line error for an exporter's failure: `UntraceableModel` when torch.export could not trace the model,
    else '<what> failed: <cause>'."""
    if _raised_while_tracing(_chain(exc)):
        return UntraceableModel(f"{UNTRACEABLE} {fmt}: {trace_failure(exc)}")
    return EdgekitError(f"{what} failed: {trace_failure(exc)}")


@dataclass
class ExportResult:
    """What an exporter wrote and what it learnt about the file."""

    path: Path
    op_counts: dict[str, int] = field(default_factory=dict)
    fallback_ops: list[str] = field(default_factory=list)  # ops that miss the fast path (XNNPACK etc.)
    notes: list[str] = field(default_factory=list)


def export(fmt: str | FormatSpec, model: torch.nn.Module, example: torch.Tensor, path: Path,
           **options) -> ExportResult:
    """Export `model` (eval mode; FP32 or a PT2E int8 graph) traced with `example` (1×3×H×W) to `path`.

    `fmt` is a format name or row of the formats table; `options` are the format's own exporter keywords
    (e.g. tflite's `interface`). Formats marked `isolated` convert in a child process, so a converter that aborts,
    segfaults or runs out of memory raises one EdgekitError naming the format instead of ending edgekit. A full
    disk raises a one-line ResourceError.
    """
    spec = FORMATS.get(fmt) if isinstance(fmt, str) else fmt
    spec.check_installed()
    module_name, func_name = spec.exporter.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    path = Path(path)
    flow = (spec.name, spec.control_flow)
    if not spec.isolated:
        return _write(func, model, example, path, options, flow)
    sent = run_isolated(_write_sendable, what=f"{spec.name} export of '{path.name}'",
                        args=(func, model, example, path, options, flow), on_start=_fresh_thread_pools,
                        writes=(path.parent, Path(tempfile.gettempdir())), timeout=EXPORT_TIMEOUT_S)
    return ExportResult(**{**sent, "path": Path(sent["path"])})


def _write(func: Callable[..., ExportResult], model: torch.nn.Module, example: torch.Tensor, path: Path,
           options: dict, flow: tuple[str, bool] = ("", False)) -> ExportResult:
    """Write the file; a model with data-dependent control flow exports it where the format keeps it (`flow`:
    the format's name and its table's `control_flow`), its dense form elsewhere, and the result says which."""
    fmt, keeps = flow
    with no_space_as_error(path), control_flow(model, keeps) as what:
        result = func(model, example, path, **options)
    if what is not None:
        result.notes.append(control_flow_note(what, fmt, keeps))
    return result


def _write_sendable(*args) -> dict:
    """`_write` in the child: its ExportResult as plain data for the pipe."""
    result = _write(*args)
    return {**dataclasses.asdict(result), "path": str(result.path)}


_STALE_POOLS: list = []  # the parent's pools, kept alive in the child: destroying them would join missing threads


def _fresh_thread_pools() -> None:
    """A forked child inherits the parent's thread pools without their threads, and hangs on the first task.

    torch drops to one thread (its OpenMP pool); JAX's MLIR pool, which LiteRT conversion uses, is replaced by a
    new one where the parent (a test, an earlier in-process conversion) has imported JAX.
    """
    torch.set_num_threads(1)
    mlir = sys.modules.get("jax._src.interpreters.mlir")
    if mlir is not None:
        _STALE_POOLS.append(mlir.global_thread_pool)
        mlir.global_thread_pool = mlir.ir.ThreadPool()
