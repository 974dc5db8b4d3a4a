"""The device interface: where files are timed (this host, an ssh board, an Android phone over adb).

A device pushes files (only when their sha256 changed) into a per-run working folder, times them with the same
warm-up/runs/min-seconds/threads/pinning rules as local runs, reads its environment, fetches outputs and cleans
up. `time_files` returns one `FileTiming` per file; callers turn them into report records, so every device
produces the same report keys.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edgekit.core.errors import EXIT_INCONCLUSIVE, EdgekitError
from edgekit.core.registry import Registry


class DeviceError(EdgekitError):
    """A device could not be used: exit 2 before anything was measured (fix the name, host, binary)."""


class DeviceLost(EdgekitError):
    """The device went away (disconnect, timeout) mid-run: exit 3, results measured so far are kept."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_INCONCLUSIVE)


@dataclass(frozen=True)
class TimingRequest:
    """How to time files: the bench options every device follows."""

    threads: int = 1
    runs: int = 50
    warmup: int = 10
    warmup_seconds: float = 0.0
    min_seconds: float = 0.0
    cpus: list[int] | None = None
    cold_start: bool = True
    runtime: str | None = None  # e.g. onnx on a GPU device: cuda | tensorrt (execution provider)


@dataclass
class FileTiming:
    """One file timed on a device. `samples` are per-run ms unless `sample_kind` says otherwise; statistics the
    device's tool cannot give are named in `unavailable` (never invented)."""

    path: Path
    format: str
    samples: list[float]
    cpu_util: float | None = None
    cold_start: dict | None = None
    versions: dict[str, str] = field(default_factory=dict)
    runtime: str = ""
    cpus: list[int] | None = None
    sample_kind: str = "per-run"
    unavailable: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # statistics printed by the tool (p50/mean/... in ms)
    outputs: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    throttled: bool = False  # too hot after the cool-down wait: latency verdicts are inconclusive


@dataclass
class Check:
    """One line of `edgekit devices doctor`: what was checked, whether it is fine, and what to do when not."""

    what: str
    ok: bool
    detail: str = ""
    fix: str = ""


def governor_check(governor: str | None) -> Check:
    """The doctor line of a Linux CPU frequency governor (None: unreadable, nothing to fix)."""
    return Check("governor", governor in (None, "performance"), str(governor),
                 "for stable numbers: echo performance | sudo tee "
                 "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")


class Device(ABC):
    """A place to time exported files."""

    kind: str = "device"
    #: formats this device can time (by edgekit format name)
    formats: tuple[str, ...] = ()

    def __init__(self, name: str, settings=None):
        self.name = name
        self.settings = settings
        self.run_id = uuid.uuid4().hex[:12]

    @property
    def label(self) -> str:
        """What the report's `device` fields say (`local`, `ssh:pi@board:22`, `adb:SERIAL`, or a configured name)."""
        return self.name

    def identity(self) -> dict:
        """What keys cached results of this device: a result measured on one device is never reused on another."""
        return {"device": self.label}

    @contextmanager
    def session(self) -> Iterator[Device]:
        """Open the device for one run; its working folder is removed at the end, on errors and on Ctrl-C."""
        self.open()
        try:
            yield self
        finally:
            self.close()

    def open(self) -> None:
        """Connect and create the per-run working folder."""

    def close(self) -> None:
        """Remove the per-run working folder and disconnect."""

    def check_formats(self, formats: list[str]) -> None:
        """Refuse, before any work, formats this device has no way to time."""
        for fmt in formats:
            if fmt not in self.formats:
                raise DeviceError(f"device {self.label} cannot time .{fmt} files (it times "
                                  f"{', '.join(self.formats)}); drop that format or pick another --device")

    @abstractmethod
    def time_files(self, files: list[tuple[Path, str]], request: TimingRequest,
                   images: np.ndarray | None = None) -> list[FileTiming]:
        """Time (path, format) files interleaved (A B, B A, ... rounds when there are several); with `images`, also
        return each file's logits for them (`FileTiming.outputs`, None where the device cannot return outputs)."""

    @abstractmethod
    def environment(self) -> dict:
        """CPU, cores, governor, temperatures, OS, ... of the device (the report's `env` keys)."""

    @abstractmethod
    def doctor(self) -> list[Check]:
        """Reachability, CPU/SoC, OS, governor, temperature, runtimes and binaries, each with its fix."""


DEVICE_KINDS: Registry[type[Device]] = Registry("device kind")
