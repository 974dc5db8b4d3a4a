"""This host: cold start in a child process, then latency in-process in each file's own runtime."""

from __future__ import annotations

import os
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from edgekit.core.ui import native_stderr_captured
from edgekit.devices.base import DEVICE_KINDS, Check, Device, DeviceError, FileTiming, TimingRequest, governor_check
from edgekit.runtimes import open_session
from edgekit.runtimes.isolated import probe
from edgekit.runtimes.worker import cpu_info, environment, time_loaded


class LocalDevice(Device):
    kind = "local"
    formats = ("onnx", "tflite", "pte")

    def identity(self) -> dict:
        model, flags = cpu_info()
        return {"device": "local", "host": platform.node(), "cpu": model, "flags": flags, "cores": os.cpu_count()}

    def time_files(self, files: list[tuple[Path, str]], request: TimingRequest,
                   images: np.ndarray | None = None) -> list[FileTiming]:
        if request.runtime not in (None, "cpu"):
            raise DeviceError(f"--runtime ort-{request.runtime} runs through edgekit's worker on an ssh device; "
                              "on this machine use --runtime tensorrt (trtexec) or the CPU runtimes")
        with pinned(request.cpus) as cpus:
            colds = [probe(path, fmt, request.threads) if request.cold_start else None for path, fmt in files]
            sessions = []
            for path, fmt in files:
                with native_stderr_captured():
                    sessions.append(open_session(path, threads=request.threads, format_name=fmt))
            timed = time_loaded(sessions, request.warmup, request.runs, request.warmup_seconds, request.min_seconds)
            outputs = [_logits(session, images) if images is not None else None for session in sessions]
        return [FileTiming(path=path, format=fmt, samples=samples, cpu_util=util, cold_start=cold,
                           versions=session.versions(), runtime=session.name, cpus=cpus, outputs=out)
                for (path, fmt), (samples, util), cold, session, out in zip(files, timed, colds, sessions, outputs)]

    def environment(self) -> dict:
        return {**environment(), "device": "local"}

    def doctor(self) -> list[Check]:
        from edgekit.core.formats import FORMATS

        env = environment()
        checks = [Check("cpu", True, f"{env['cpu']} ({env['cores']} cores), flags: {' '.join(env['flags'])}"),
                  governor_check(env["governor"])]
        for name in ("onnx", "tflite", "pte"):
            try:
                FORMATS.get(name).check_installed()
                checks.append(Check(f".{name} runtime", True, ", ".join(FORMATS.get(name).runtime_packages)))
            except Exception as exc:  # noqa: BLE001 - a missing extra is a doctor line
                checks.append(Check(f".{name} runtime", False, str(exc), str(exc).split("with: ")[-1]))
        return checks


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _logits(session, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """The session's logits for `images`, in chunks (the file's own batch when it has one)."""
    step = session.fixed_batch or batch
    return np.concatenate([session.run(images[i:i + step]) for i in range(0, len(images), step)])


@contextmanager
def pinned(cpus: list[int] | None) -> Iterator[list[int]]:
    """Restrict this process (and threads and children it starts) to `cpus`; restore the old mask on exit."""
    if not cpus:
        yield available_cpus()
        return
    if not hasattr(os, "sched_setaffinity"):
        raise DeviceError("--cpus needs CPU affinity support (Linux); remove it on this platform")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield sorted(cpus)
    finally:
        os.sched_setaffinity(0, before)


DEVICE_KINDS.add("local", LocalDevice)
