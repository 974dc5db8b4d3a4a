"""The TensorRT session without TensorRT: one-line errors when tensorrt or CUDA is missing, and its binding, shape
and execute logic against stand-in engines of both APIs (10.x/11.x tensor names, 8.x binding indices) that
compute on CPU torch tensors through the addresses the session hands them."""

from __future__ import annotations

import ctypes
import sys
import types
from enum import Enum

import numpy as np
import pytest
import torch

from edgekit.core.errors import EdgekitError
from edgekit.runtimes.base import RuntimeSession
from edgekit.runtimes.tensorrt import IOTensor, TensorRTSession, dtype_name, input_shape_for, io_tensors

CLASSES = 10


class DataType(Enum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    FP4 = 99


class TensorIOMode(Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


FAKE_TRT = types.SimpleNamespace(TensorIOMode=TensorIOMode, DataType=DataType, __version__="10.3.0.fake")


def logits_of(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).sum(1, keepdims=True) * np.arange(1, CLASSES + 1, dtype=np.float32)


def compute(in_addr: int, in_shape, out_addr: int) -> None:
    """What the 'engine' does: read the input at its address, write logits at the output address."""
    count = int(np.prod(in_shape))
    x = np.ctypeslib.as_array((ctypes.c_float * count).from_address(in_addr)).reshape(in_shape)
    y = logits_of(x).astype(np.float32)
    ctypes.memmove(out_addr, y.ctypes.data, y.nbytes)


class ContextV3:
    def __init__(self):
        self.shapes, self.addresses, self.calls = {}, {}, []

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        return (self.shapes["input"][0], CLASSES)

    def set_tensor_address(self, name, address):
        self.addresses[name] = address

    def execute_async_v3(self, stream):
        self.calls.append(self.shapes["input"])
        compute(self.addresses["input"], self.shapes["input"], self.addresses["logits"])
        return True


class EngineV3:
    num_io_tensors = 2

    def __init__(self, batch_range=(1, 8), in_shape=(-1, 3, 8, 8)):
        self.batch_range, self.in_shape, self.context = batch_range, in_shape, ContextV3()

    def get_tensor_name(self, i):
        return ["input", "logits"][i]

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if name == "input" else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name):
        return self.in_shape if name == "input" else (-1, CLASSES)

    def get_tensor_dtype(self, name):
        return DataType.FLOAT

    def get_tensor_profile_shape(self, name, profile):
        low, high = self.batch_range
        return [(low, 3, 8, 8), (high, 3, 8, 8), (high, 3, 8, 8)]

    def create_execution_context(self):
        return self.context


class ContextV2:
    def __init__(self):
        self.shape = None

    def set_binding_shape(self, index, shape):
        assert index == 0
        self.shape = tuple(shape)
        return True

    def get_binding_shape(self, index):
        return self.shape if index == 0 else (self.shape[0], CLASSES)

    def execute_v2(self, bindings):
        compute(bindings[0], self.shape, bindings[1])
        return True


class EngineV2:
    num_bindings = 2

    def __init__(self):
        self.context = ContextV2()

    def binding_is_input(self, i):
        return i == 0

    def get_binding_name(self, i):
        return ["images", "scores"][i]

    def get_binding_shape(self, i):
        return (-1, 3, 8, 8) if i == 0 else (-1, CLASSES)

    def get_binding_dtype(self, i):
        return DataType.FLOAT

    def get_profile_shape(self, profile, i):
        return [(1, 3, 8, 8), (4, 3, 8, 8), (16, 3, 8, 8)]

    def create_execution_context(self):
        return self.context


def session_for(engine, tmp_path) -> TensorRTSession:
    path = tmp_path / "fake.plan"
    path.write_bytes(b"")
    session = TensorRTSession.__new__(TensorRTSession)
    RuntimeSession.__init__(session, path, 1)
    session._setup(FAKE_TRT, torch, engine, torch.device("cpu"))
    return session


def test_without_tensorrt_the_session_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as if not installed
    with pytest.raises(EdgekitError) as info:
        TensorRTSession(tmp_path / "m.plan")
    assert "'tensorrt' Python module is not installed" in str(info.value) and "\n" not in str(info.value)


def test_without_cuda_the_session_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", FAKE_TRT)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EdgekitError, match="needs an NVIDIA GPU with CUDA") as info:
        TensorRTSession(tmp_path / "m.plan")
    assert "\n" not in str(info.value)


def test_io_description_of_both_apis():
    v3 = io_tensors(EngineV3(), FAKE_TRT)
    assert v3 == [IOTensor("input", True, (-1, 3, 8, 8), "float32", 0, (1, 8)),
                  IOTensor("logits", False, (-1, CLASSES), "float32", 1, None)]
    v2 = io_tensors(EngineV2(), FAKE_TRT)
    assert [(t.name, t.is_input, t.batch_range) for t in v2] == [("images", True, (1, 16)), ("scores", False, None)]
    assert dtype_name(DataType.HALF) == "float16"
    with pytest.raises(EdgekitError, match="FP4 is not supported"):
        dtype_name(DataType.FP4)


def test_shape_checks():
    tensor = IOTensor("input", True, (-1, 3, 8, 8), "float32", 0, (1, 8))
    assert input_shape_for(tensor, (4, 3, 8, 8)) == (4, 3, 8, 8)
    for bad, why in [((4, 3, 8), "4 dimensions"), ((4, 3, 16, 16), "is \\(-1, 3, 8, 8\\)"),
                     ((9, 3, 8, 8), "built for batch 1..8; got 9")]:
        with pytest.raises(EdgekitError, match=why):
            input_shape_for(tensor, bad)


@pytest.mark.parametrize("engine", [EngineV3, EngineV2])
def test_runs_batches_through_the_engine_addresses(engine, tmp_path):
    session = session_for(engine(), tmp_path)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    out = session.run(x)
    assert out.dtype == np.float32 and out.shape == (4, CLASSES)
    np.testing.assert_allclose(out, logits_of(x), rtol=1e-5, atol=1e-4)
    assert session.input_shape == (None, 3, 8, 8) and session.fixed_batch is None
    assert session.versions() == {"tensorrt": "10.3.0.fake"}


def test_a_fixed_batch_profile_splits_larger_batches(tmp_path):
    engine = EngineV3(batch_range=(2, 2))
    session = session_for(engine, tmp_path)
    assert session.fixed_batch == 2
    x = np.ones((6, 3, 8, 8), np.float32)
    np.testing.assert_allclose(session.run(x), logits_of(x), rtol=1e-5)
    assert engine.context.calls == [(2, 3, 8, 8)] * 3
    with pytest.raises(EdgekitError, match="not a multiple of the file's batch 2"):
        session.run(np.ones((3, 3, 8, 8), np.float32))


def test_engine_refusing_to_run_is_an_error(tmp_path):
    engine = EngineV3()
    engine.context.execute_async_v3 = lambda stream: False
    with pytest.raises(EdgekitError, match="TensorRT failed to run 'fake.plan' at batch 1"):
        session_for(engine, tmp_path).run(np.ones((1, 3, 8, 8), np.float32))
