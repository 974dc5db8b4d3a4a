"""CPU pinning of the measuring process (`--cpus 0`, `--cpus 0,2`, `--cpus 0-3`)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from edgekit.core.errors import EdgekitError


def parse_cpus(text: str) -> list[int]:
    """'0,2-3' -> [0, 2, 3]; CPUs this process may not use are an error (one line, exit 2)."""
    cpus: set[int] = set()
    try:
        for part in (p.strip() for p in text.split(",")):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if first < 0 or last < first:
                raise ValueError
            cpus.update(range(first, last + 1))
    except ValueError:
        raise EdgekitError(f"--cpus '{text}' is not a CPU list such as 0, 0,2 or 0-3") from None
    allowed = available_cpus()
    if not cpus <= set(allowed):
        raise EdgekitError(f"--cpus {text}: CPU {min(cpus - set(allowed))} is not available to this process "
                           f"(available: {_ranges(allowed)})")
    return sorted(cpus)


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@contextmanager
def pinned(cpus: list[int] | None) -> Iterator[list[int]]:
    """Restrict this process (and threads and children it starts) to `cpus`; restore the old mask on exit."""
    if not cpus:
        yield available_cpus()
        return
    if not hasattr(os, "sched_setaffinity"):
        raise EdgekitError("--cpus needs CPU affinity support (Linux); remove it on this platform")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield sorted(cpus)
    finally:
        os.sched_setaffinity(0, before)


def _ranges(cpus: list[int]) -> str:
    out, start = [], None
    for i, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if i + 1 == len(cpus) or cpus[i + 1] != cpu + 1:
            out.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(out)
