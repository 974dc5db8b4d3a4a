"""Runtime tests: parity with torch in every runtime, batch splitting, thread pinning, errors."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import timm
import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.formats import FORMATS
from edgekit.exporters import export
from edgekit.runtimes import open_session
from edgekit.runtimes.executorch import ExecuTorchSession
from edgekit.runtimes.litert import LiteRTSession
from edgekit.runtimes.onnxruntime import OrtSession

PX = 64
FMTS = ["onnx", "tflite", "pte"]
MODELS = {
    "test_efficientnet": dict(num_classes=10),
    "test_vit": dict(num_classes=10, img_size=PX, dynamic_img_size=False),
}


@pytest.fixture(scope="module", params=list(MODELS))
def artifacts(request, tmp_path_factory):
    """(torch model, {format: path}) for one tiny timm model exported at PX×PX with batch 1."""
    torch.manual_seed(0)
    model = timm.create_model(request.param, **MODELS[request.param]).eval()
    example = torch.randn(1, 3, PX, PX)
    out = tmp_path_factory.mktemp(request.param)
    paths = {name: export(name, model, example, out / f"m{FORMATS.get(name).suffix}").path for name in FMTS}
    return model, paths


def _reference(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("fmt", FMTS)
def test_parity_with_torch_and_batch_splitting(artifacts, fmt):
    model, paths = artifacts
    session = open_session(paths[fmt], threads=1)
    assert session.name == {"onnx": "onnxruntime", "tflite": "litert", "pte": "executorch"}[fmt]
    assert session.fixed_batch == (None if fmt == "onnx" else 1)
    x = np.random.default_rng(1).standard_normal((5, 3, PX, PX), dtype=np.float32)
    ref = _reference(model, x)
    out = session.run(x)  # batch 5 through fixed-batch files is split into five runs
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-3
    assert (out.argmax(1) == ref.argmax(1)).all()
    # outputs must not alias the runtime's buffers
    again = session.run(x[:1] * 0)
    assert np.abs(out[:1] - ref[:1]).max() < 1e-3 and not np.allclose(again, out[:1])
    versions = session.versions()
    assert versions and all(isinstance(v, str) and v for v in versions.values())


def test_fixed_batch_two_splits_and_rejects_odd_batches(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    path = export("pte", model, torch.randn(2, 3, 32, 32), tmp_path / "b2.pte").path
    session = open_session(path, threads=1)
    assert session.fixed_batch == 2
    x = np.random.default_rng(2).standard_normal((4, 3, 32, 32), dtype=np.float32)
    assert np.abs(session.run(x) - _reference(model, x)).max() < 1e-3
    with pytest.raises(EdgekitError, match="not a multiple"):
        session.run(x[:3])


@pytest.mark.parametrize("cls", [OrtSession, LiteRTSession, ExecuTorchSession])
def test_missing_file_raises(tmp_path, cls):
    with pytest.raises(EdgekitError):
        cls(tmp_path / "nope.bin", 1)


@pytest.mark.parametrize("suffix", [".onnx", ".tflite", ".pte"])
def test_open_session_missing_or_corrupt_file(tmp_path, suffix):
    with pytest.raises(EdgekitError, match="does not exist"):
        open_session(tmp_path / f"missing{suffix}")
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(b"not a model at all" * 10)
    with pytest.raises(EdgekitError):
        open_session(bad)


# --- threads: 1 thread must really be one thread -------------------------------------------------

class ConvStack(torch.nn.Module):
    """~0.6 GFLOP of plain 3×3 convs at 64 px: several ms per run, quick to export."""

    def __init__(self):
        super().__init__()
        layers = [torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU()]
        for _ in range(4):
            layers += [torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU()]
        self.body = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture(scope="module")
def heavy(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("heavy")
    model, example = ConvStack().eval(), torch.randn(1, 3, PX, PX)
    return {name: export(name, model, example, out / f"h{FORMATS.get(name).suffix}").path for name in FMTS}


def _thread_cpu_ticks() -> dict[int, int]:
    """CPU clock ticks (user+system) per OS thread of this process."""
    ticks = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks[int(task)] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def _measure(session, min_wall: float = 0.5) -> tuple[float, float, int]:
    """(process CPU / wall, wall seconds per run, number of threads that did real work).

    Runs for at least ``min_wall`` seconds, so the working threads gather tens of 10 ms clock
    ticks and a stray thread (a pytest-xdist I/O thread, a garbage collection) that got one or
    two ticks does not count as busy: a thread is busy with a fifth of the busiest one's ticks.
    """
    x = np.random.default_rng(3).standard_normal((1, 3, PX, PX), dtype=np.float32)
    for _ in range(3):
        session.run(x)
    before = _thread_cpu_ticks()
    cpu, wall, runs = time.process_time(), time.perf_counter(), 0
    while runs < 40 or time.perf_counter() - wall < min_wall:
        session.run(x)
        runs += 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = _thread_cpu_ticks()
    deltas = [after[t] - before.get(t, 0) for t in after]
    busy = sum(1 for d in deltas if d >= max(3, 0.2 * max(deltas, default=0)))
    return cpu / wall, wall / runs, busy


# busy-thread counting is robust to other load on the machine; the CPU/wall ratio is not (for 2 threads)
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc per-thread stats")


@needs_proc
@pytest.mark.parametrize("fmt", FMTS)
def test_one_thread_is_one_thread(heavy, fmt):
    other = open_session(heavy[fmt], threads=2)  # a second session must not change this one's pool
    session = open_session(heavy[fmt], threads=1)
    other.run(np.zeros((1, 3, PX, PX), np.float32))
    ratio, per_run, busy = _measure(session)
    assert per_run > 0.002, f"model too small for a meaningful measurement ({per_run * 1e3:.2f} ms)"
    assert ratio <= 1.3, f"{fmt}: threads=1 used {ratio:.2f} CPU seconds per wall second"
    assert busy == 1, f"{fmt}: threads=1 kept {busy} OS threads busy"


@needs_proc
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs at least 2 cores to see 2 threads work")
@pytest.mark.parametrize("fmt", FMTS)
def test_two_threads_use_two_threads(heavy, fmt):
    _, _, busy = _measure(open_session(heavy[fmt], threads=2))
    assert busy >= 2, f"{fmt}: threads=2 kept only {busy} OS thread busy"


def test_executorch_sessions_with_different_threads_alternate_safely(heavy):
    """One threadpool per process: switching sessions must reload, never run on a freed pool."""
    x = np.random.default_rng(4).standard_normal((1, 3, PX, PX), dtype=np.float32)
    one, two = open_session(heavy["pte"], threads=1), open_session(heavy["pte"], threads=2)
    expected = one.run(x)
    for _ in range(5):
        assert np.array_equal(two.run(x), two.run(x))
        assert np.abs(one.run(x) - expected).max() < 1e-4
