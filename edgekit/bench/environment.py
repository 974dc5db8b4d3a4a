"""The measurement environment recorded with every result."""

from __future__ import annotations

import importlib.metadata

from edgekit import __version__
from edgekit.runtimes.worker import FLAGS as INTERESTING_FLAGS
from edgekit.runtimes.worker import cpu_info, governor
from edgekit.runtimes.worker import environment as device_environment

__all__ = ["INTERESTING_FLAGS", "cpu_info", "environment", "governor", "versions"]

PACKAGES = ("torch", "timm", "onnx", "onnxruntime", "onnxscript", "executorch", "litert-torch", "ai-edge-litert",
            "torch-pruning", "numpy")


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def environment(threads: int) -> dict:
    """This host's measurement environment (the same keys an ssh device's worker reports) and library versions."""
    return {**device_environment(), "threads": threads, "edgekit": __version__, **versions()}
