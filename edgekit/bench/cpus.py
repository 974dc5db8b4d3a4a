"""CPU lists for `--cpus 0`, `--cpus 0,2`, `--cpus 0-3`, checked against the CPUs this process may use."""

from __future__ import annotations

from edgekit.core.errors import EdgekitError
from edgekit.devices.config import cpu_list
from edgekit.devices.local import available_cpus, pinned

__all__ = ["available_cpus", "cpu_ranges", "parse_cpus", "pinned"]


def parse_cpus(text: str) -> list[int]:
    """'0,2-3' -> [0, 2, 3]; CPUs this process may not use are an error (one line, exit 2)."""
    try:
        cpus = set(cpu_list(text) or [])
    except ValueError:
        raise EdgekitError(f"--cpus '{text}' is not a CPU list such as 0, 0,2 or 0-3") from None
    if not cpus:
        raise EdgekitError(f"--cpus '{text}' is not a CPU list such as 0, 0,2 or 0-3")
    allowed = available_cpus()
    if not cpus <= set(allowed):
        raise EdgekitError(f"--cpus {text}: CPU {min(cpus - set(allowed))} is not available to this process "
                           f"(available: {cpu_ranges(allowed)})")
    return sorted(cpus)


def cpu_ranges(cpus: list[int] | None) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out, start = [], None
    cpus = cpus or []
    for i, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if i + 1 == len(cpus) or cpus[i + 1] != cpu + 1:
            out.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(out)
