"""Parsers for what on-device benchmark binaries and telemetry tools print.

Each parser takes the tool's output as `str` (callers decode bytes with ``errors="replace"``), returns a frozen
record and raises `ParseError` — never another exception — when the text is empty, cut short, garbled or carries
numbers that cannot be right (nan, inf, negative timings). The accepted formats are listed in
docs/device-outputs.md. Parsers import only the standard library, numpy and `edgekit.core.errors`.
"""

from __future__ import annotations

from edgekit.core.errors import EdgekitError


class ParseError(EdgekitError):
    """A tool's output could not be read: one line naming the tool and what was missing (exit code 2)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()) or "unreadable tool output")


# The public parsers (imported after ParseError, which they raise).
from edgekit.devices.parsers.benchmark_model import (  # noqa: E402
    BenchmarkModelOutput,
    PhaseStats,
    RunPlan,
    parse_benchmark_model,
)
from edgekit.devices.parsers.executor_runner import (  # noqa: E402
    ExecutorRunnerOutput,
    TensorOutput,
    parse_executor_runner,
)
from edgekit.devices.parsers.telemetry import (  # noqa: E402
    CpuCore,
    CpuInfo,
    JetsonClocks,
    JetsonCpu,
    NvpModel,
    PowerRail,
    TegraStats,
    ThermalStatus,
    parse_cpuinfo,
    parse_dumpsys_thermal,
    parse_getprop,
    parse_getprop_value,
    parse_jetson_clocks,
    parse_nvpmodel,
    parse_tegrastats,
    parse_thermal_zones,
)

__all__ = [
    "BenchmarkModelOutput", "CpuCore", "CpuInfo", "ExecutorRunnerOutput", "JetsonClocks", "JetsonCpu", "NvpModel",
    "ParseError", "PhaseStats", "PowerRail", "RunPlan", "TegraStats", "TensorOutput", "ThermalStatus",
    "parse_benchmark_model", "parse_cpuinfo", "parse_dumpsys_thermal", "parse_executor_runner", "parse_getprop",
    "parse_getprop_value", "parse_jetson_clocks", "parse_nvpmodel", "parse_tegrastats", "parse_thermal_zones",
]
