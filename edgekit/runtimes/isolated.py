"""Cold start and peak memory of an artifact, measured in a child process that only loads and runs it.

The child (`python -m edgekit.runtimes.isolated FILE --runtime module:Class`) imports numpy and the artifact's runtime,
not torch or the rest of edgekit, so its numbers are what an app shipping the file pays: runtime import time, load
(cold start) time, first-run time and peak resident memory. A runtime that crashes (segfault, abort) or hangs takes
the child down, not edgekit: the parent reports it as one line (exit code 2).
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import subprocess
import sys
from pathlib import Path

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.formats import FORMATS
from edgekit.runtimes.worker import cold_start

MARKER = "EDGEKIT_PROBE "  # prefix of the child's one result line on stdout (runtimes may print too)


def probe(path: Path, format_name: str, threads: int, runs: int = 3, timeout: float = 300.0,
          runtime: str | None = None, env: dict | None = None) -> dict:
    """Load and run `path` `runs` times in a fresh child process; returns its cold-start record."""
    runtime = runtime or FORMATS.get(format_name).session
    command = [sys.executable, "-m", "edgekit.runtimes.isolated", str(path), "--runtime", runtime,
               "--threads", str(threads), "--runs", str(runs)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"loading and running '{path}' did not finish within {timeout:.0f} s "
                           "(the child process was stopped)") from None
    result = _result(proc.stdout)
    if proc.returncode < 0:
        name = _signal_name(-proc.returncode)
        raise EdgekitError(f"the {format_name} runtime crashed ({name}) loading or running '{path}' in a child "
                           "process; the file is corrupt or not supported by this runtime version")
    if proc.returncode != 0 or result is None or "error" in result:
        reason = (result or {}).get("error") or _last_line(proc.stderr) or f"exit code {proc.returncode}"
        raise EdgekitError(f"'{path}' cannot be loaded and run: {reason}")
    return result


def _result(stdout: str) -> dict | None:
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    return json.loads(lines[-1][len(MARKER):]) if lines else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def measure(path: Path, runtime: str, threads: int, runs: int) -> dict:
    """In the child: import the runtime, load the file, run it; times in ms, memory in MiB."""
    module_name, class_name = runtime.split(":")

    def import_runtime():
        session_class = getattr(importlib.import_module(module_name), class_name)
        preload = getattr(session_class, "import_runtime", None)
        if preload is not None:
            preload()
        return session_class

    return cold_start(import_runtime, lambda session_class: session_class(Path(path), threads), threads, runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgekit.runtimes.isolated", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--runtime", required=True, help="module:Class of a RuntimeSession")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        result = measure(args.path, args.runtime, args.threads, args.runs)
    except Exception as exc:  # noqa: BLE001 - any failure to load is reported to the parent as one line
        first = first_line(exc)
        message = first if type(exc).__name__ == "EdgekitError" else f"{type(exc).__name__}: {first}"
        sys.stdout.write(MARKER + json.dumps({"error": message[:400]}) + "\n")
        return 2
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
