"""The measurement environment recorded with every result."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

from edgekit import __version__

INTERESTING_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                     "amx_int8", "neon", "asimd", "asimddp", "i8mm", "sve")
PACKAGES = ("torch", "timm", "onnx", "onnxruntime", "onnxscript", "executorch", "litert-torch", "ai-edge-litert",
            "torch-pruning", "numpy")


def cpu_info() -> tuple[str, list[str]]:
    """CPU model name and the SIMD flags that matter for inference kernels."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    return model, [f for f in INTERESTING_FLAGS if f in flags]


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return None


def environment(threads: int) -> dict:
    model, flags = cpu_info()
    return {"cpu": model, "flags": flags, "cores": os.cpu_count(), "threads": threads,
            "governor": governor(), "load_average": [round(v, 2) for v in os.getloadavg()],
            "platform": platform.platform(), "python": platform.python_version(),
            "edgekit": __version__, **versions()}
