"""Measured latency of a PyTorch model through its ONNX export in onnxruntime at one thread."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from edgekit.bench.measure import interleaved, summarize


def onnx_available() -> bool:
    from edgekit.core.formats import FORMATS

    try:
        FORMATS.get("onnx").check_installed()
    except Exception:
        return False
    return True


def _session(model: torch.nn.Module, img_size: int, directory: Path, name: str, threads: int):
    from edgekit.exporters import export
    from edgekit.runtimes import open_session

    path = directory / f"{name}.onnx"
    export("onnx", model.eval(), torch.zeros(1, 3, img_size, img_size), path)
    return open_session(path, threads=threads)


def measure(models: dict[str, torch.nn.Module], img_size: int, runs: int = 30, warmup: int = 5,
            rounds: int = 4, threads: int = 1) -> dict[str, dict]:
    """p50/p90… per model, timed interleaved in rounds (worker.interleaved) so drift hits every model alike."""
    x = np.random.default_rng(0).standard_normal((1, 3, img_size, img_size)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="edgekit-prune-") as tmp:
        sessions = {k: _session(m, img_size, Path(tmp), k, threads) for k, m in models.items()}
        timed = interleaved([lambda s=s: s.run(x) for s in sessions.values()], warmup, runs,
                            round_size=max(1, runs // rounds))
        samples = {k: got for k, (got, _) in zip(sessions, timed)}
    return {k: {**summarize(v), "runs": len(v), "threads": threads, "runtime": "onnxruntime"}
            for k, v in samples.items()}


@contextmanager
def device_fraction(base: torch.nn.Module, img_size: int, device, runs: int = 30, threads: int = 1):
    """Yields `candidate -> p50(candidate) / p50(base)`, both exported and timed interleaved on `device`, within one
    device session (the base file is exported and pushed once); the exported files are removed at the end."""
    from edgekit.devices import TimingRequest
    from edgekit.exporters import export

    fmt = "onnx" if "onnx" in device.formats else device.formats[0]
    example = torch.zeros(1, 3, img_size, img_size)
    request = TimingRequest(threads=threads, runs=runs, warmup=5, cold_start=False)
    with tempfile.TemporaryDirectory(prefix="edgekit-prune-device-") as tmp, device.session():
        folder = Path(tmp)
        base_path = folder / f"base.{fmt}"
        export(fmt, base.eval(), example, base_path)
        calls = [0]

        def fraction(candidate: torch.nn.Module) -> float:
            calls[0] += 1
            path = folder / f"candidate-{calls[0]}.{fmt}"
            export(fmt, candidate.eval(), example, path)
            timed = device.time_files([(path, fmt), (base_path, fmt)], request)
            path.unlink()
            return float(np.median(timed[0].samples) / np.median(timed[1].samples))

        yield fraction
