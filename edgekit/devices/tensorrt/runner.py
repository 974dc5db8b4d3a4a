"""How TensorRT commands are run: a callable, so the same code drives a local trtexec or one on a Jetson over ssh."""

from __future__ import annotations

import subprocess
from typing import Callable

from edgekit.core.errors import EXIT_INCONCLUSIVE, EdgekitError

#: (argv, timeout in seconds) -> (returncode, stdout, stderr). A runner raises EdgekitError when the command could
#: not be started or ran past its timeout (exit code 3, EXIT_INCONCLUSIVE); a non-zero exit is a return value.
Runner = Callable[[list[str], float], "tuple[int, str, str]"]


def local_runner(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """Run `argv` here with no stdin; output decoded as UTF-8 (undecodable bytes replaced)."""
    if not argv:
        raise EdgekitError("no command to run")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"'{argv[0]}' did not finish within {timeout:g} s and was stopped",
                           exit_code=EXIT_INCONCLUSIVE) from None
    except FileNotFoundError:
        raise EdgekitError(f"'{argv[0]}' was not found; install TensorRT's trtexec (libnvinfer-bin, the TensorRT "
                           "tar package or JetPack: /usr/src/tensorrt/bin/trtexec) or pass its path") from None
    except PermissionError:
        raise EdgekitError(f"'{argv[0]}' cannot be executed (permission denied)") from None
    except OSError as exc:
        raise EdgekitError(f"'{argv[0]}' could not be started: {exc.strerror or exc}") from None
    return (done.returncode, done.stdout.decode("utf-8", errors="replace"),
            done.stderr.decode("utf-8", errors="replace"))
