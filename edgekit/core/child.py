"""Run a function in a forked child process, so a native crash becomes one error line instead of ending edgekit.

Converters drive native libraries (LLVM/MLIR, XNNPACK) that abort, segfault or get killed for memory without a
Python exception. `run_isolated` forks, runs the function in the child and sends its result back through a pipe;
a crash is reported as one EdgekitError naming what was running and why it stopped: a full disk or memory exhaustion
(ResourceError, exit code 2: the user can fix it) or a crash (exit code 4). The child's stderr, where native
libraries print ("LLVM ERROR: ..."), is captured for that line and passed on to this process's stderr.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import re
import select
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

from edgekit.core.errors import EXIT_INTERNAL, EdgekitError, ResourceError, first_line
from edgekit.core.io import free_bytes, mib

T = TypeVar("T")

#: a crash while a written folder has less than this free is blamed on the full disk
LOW_SPACE_BYTES = 16 * 2**20
_TAIL_BYTES = 8192
_CAUSE = re.compile(r"\berror\b|\bfatal\b|what\(\):", re.IGNORECASE)  # LLVM, Python and C++ (std::terminate)


class ChildError(Exception):
    """An exception of the child whose own type cannot be rebuilt here; its message starts with that type's name."""


def available() -> bool:
    """Whether functions can run in a forked child here (Linux only: fork is unsafe on macOS, absent on Windows)."""
    return sys.platform.startswith("linux")


def run_isolated(func: Callable[..., T], *, what: str, args: Sequence[Any] = (),
                 kwargs: Mapping[str, Any] | None = None, on_start: Callable[[], None] | None = None,
                 writes: Sequence[Path] = (), timeout: float | None = None) -> T:
    """Return `func(*args, **kwargs)` computed in a forked child process (in this process where `available()` is not).

    `what` names the work in error messages ("tflite export of 'model.tflite'"). `on_start` runs first in the child:
    the parent's thread pools lose their threads in a fork, so shrink or replace those the work uses, or it hangs.
    `writes` are the folders the work writes into, checked for free space when the child crashes; after `timeout`
    seconds the child is killed. The result comes back as JSON (nothing is unpickled): plain dicts, lists, strings
    and numbers. A Python exception in the child is raised here with its first line: an EdgekitError keeps its class
    and exit code, other exceptions their type where it can be rebuilt from a message (else ChildError).
    """
    kwargs = kwargs or {}
    if not available():
        return func(*args, **kwargs)
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as stderr:
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():  # libraries warn that fork and threads deadlock: `on_start` handles that
            warnings.simplefilter("ignore")
            gc.freeze()  # the child never collects what it inherits (see _child)
            pid = -1
            try:
                pid = os.fork()
            finally:
                if pid != 0:
                    gc.unfreeze()
        if pid == 0:  # the child never returns from here
            os.close(read_end)
            _child(write_end, stderr.fileno(), func, args, kwargs, on_start)
        os.close(write_end)
        try:
            payload, timed_out = _read_all(read_end, timeout)
        except BaseException:  # an interrupt here: the child must not outlive it
            _stop(pid)
            raise
        finally:
            os.close(read_end)
        if timed_out:
            _stop(pid)
            _forward(stderr)
            raise EdgekitError(f"{what} did not finish within {timeout:.0f} s and was stopped", EXIT_INTERNAL)
        _, status = os.waitpid(pid, 0)
        tail = _forward(stderr)
    if status != 0 or not payload:  # a result counts only from a child that exited normally
        raise _crash(what, status, tail, writes)
    return _unpack(json.loads(payload))


def _child(write_end: int, stderr_fd: int, func: Callable, args: Sequence, kwargs: Mapping,
           on_start: Callable[[], None] | None) -> None:
    """Body of the forked child: run, send ["ok", result] or ["raised", module, class, line, exit code] as JSON,
    exit at once.

    Everything inherited from the parent stays frozen out of the garbage collector: destroying an object whose
    native owner's threads did not survive the fork (an onnxruntime session's thread pool) waits for those threads
    forever.
    """
    try:
        os.dup2(stderr_fd, 2)
        try:
            if on_start is not None:
                on_start()
            payload = json.dumps(["ok", func(*args, **kwargs)]).encode()
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            cls = type(exc)
            payload = json.dumps(["raised", cls.__module__, cls.__qualname__, first_line(exc),
                                  getattr(exc, "exit_code", None)]).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)  # no atexit handlers, no parent buffers flushed twice


def _read_all(fd: int, timeout: float | None) -> tuple[bytes, bool]:
    """Everything written to `fd` until the child closes it; (what was read, whether `timeout` ran out first)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks = []
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return b"".join(chunks), True
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def _stop(pid: int) -> None:
    """Kill the child and reap it."""
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _forward(stderr) -> str:
    """Pass what the child printed on stderr on to this process's stderr; returns its tail."""
    stderr.seek(0)
    text = stderr.read()
    if text:
        os.write(2, text)
    return text[-_TAIL_BYTES:].decode(errors="replace")


def _unpack(message: list) -> Any:
    if message[0] == "ok":
        return message[1]
    _, module, qualname, line, exit_code = message
    cls = _exception_class(module, qualname)
    if cls is None:
        raise ChildError(f"{qualname.rpartition('.')[2]}: {line}")
    if issubclass(cls, EdgekitError):
        raise _rebuilt(cls, line, exit_code) or EdgekitError(line, exit_code)
    rebuilt = _rebuilt(cls, line) if issubclass(cls, Exception) else None  # never SystemExit here
    raise rebuilt or ChildError(f"{cls.__name__}: {line}")


def _exception_class(module: str, qualname: str) -> type | None:
    """The exception class the child raised, found by its import path (None for a local or dynamic class)."""
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _rebuilt(cls: type, *args) -> BaseException | None:
    try:
        return cls(*args)
    except Exception:  # noqa: BLE001 - its constructor takes other arguments
        return None


def _crash(what: str, status: int, tail: str, writes: Sequence[Path]) -> EdgekitError:
    """The one-line error for a child that died without sending a result."""
    code = os.waitstatus_to_exitcode(status)
    how = f"exit status {code}" if code >= 0 else _signal_name(-code)
    cause = _cause_line(tail)
    stopped = f"{how}: {cause}" if cause else how
    for folder in writes:
        free = free_bytes(folder)
        if free < LOW_SPACE_BYTES:
            return ResourceError(f"{what} stopped ({stopped}): the disk is full, '{folder}' has {mib(free)} free; "
                                 "free some space and run again")
    if code == -signal.SIGKILL:
        memory = _available_memory()
        left = f" ({mib(memory)} of memory available now)" if memory is not None else ""
        return ResourceError(f"{what} was killed (SIGKILL), most likely out of memory{left}; close other programs, "
                             "or use a smaller model or input size")
    return EdgekitError(f"{what} crashed ({stopped}); this is a bug in edgekit or the library it drives, please "
                        "report it", EXIT_INTERNAL)


def _cause_line(tail: str) -> str:
    """The last stderr line that names an error ("LLVM ERROR: ...", "what(): ..."), else the last line, cut to 300."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    named = [line for line in lines if _CAUSE.search(line)]
    return (named or lines or [""])[-1][:300]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes; None where there is none."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
