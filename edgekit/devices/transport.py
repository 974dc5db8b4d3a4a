"""Running the commands that reach a device (ssh, adb): a timeout on every call, bounded retries with backoff."""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, TypeVar

from edgekit.devices.base import DeviceLost

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_SECONDS = (1.0, 3.0, 9.0, 20.0)


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def last_error_line(self) -> str:
        """The last non-empty line of stderr (else stdout), for one-line messages."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.returncode}"


class Transient(Exception):
    """A failure worth retrying (connection refused/reset, device offline)."""

    def __init__(self, message: str):
        super().__init__(message)


def run(argv: list[str], timeout: float, what: str, stdin: IO[bytes] | bytes | None = None,
        stdout_file: Path | None = None) -> Completed:
    """Run `argv` with a timeout; a timeout is DeviceLost (exit 3) naming `what`. Output is decoded leniently;
    without `stdin` the command reads nothing (never the user's terminal)."""
    if stdin is None:
        stdin = subprocess.DEVNULL
    try:
        if stdout_file is not None:
            with open(stdout_file, "wb") as sink:
                proc = subprocess.run(argv, stdin=stdin if not isinstance(stdin, bytes) else None,
                                      input=stdin if isinstance(stdin, bytes) else None, stdout=sink,
                                      stderr=subprocess.PIPE, timeout=timeout)
            out = b""
        else:
            proc = subprocess.run(argv, stdin=stdin if not isinstance(stdin, bytes) else None,
                                  input=stdin if isinstance(stdin, bytes) else None, capture_output=True,
                                  timeout=timeout)
            out = proc.stdout
    except subprocess.TimeoutExpired:
        raise DeviceLost(f"{what} did not answer within {timeout:.0f} s (stopped; results so far are kept)") from None
    except FileNotFoundError:
        raise DeviceLost(f"'{argv[0]}' is not installed on this machine (needed for {what})") from None
    return Completed(proc.returncode, out.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def with_retries(call: Callable[[], T], retries: int, what: str, sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, retried up to `retries` times with growing waits while it raises Transient; then DeviceLost."""
    for attempt in range(retries + 1):
        try:
            return call()
        except Transient as exc:
            if attempt == retries:
                raise DeviceLost(f"{what}: {exc} (after {retries + 1} attempts)") from None
            wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            log.info("%s: %s; retrying in %.0f s", what, exc, wait)
            sleep(wait)
    raise AssertionError("unreachable")
