"""The trainer: interrupt-and-resume reproduces an uninterrupted run; bad resume files are refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ARGS = ["--data", "fashion-mnist", "--img-size", "32", "--subset", "512", "--epochs", "3", "--batch-size", "32",
        "--formats", "onnx", "--eval-samples", "256", "--runs", "3", "--ema", "0.9"]


def compress(model: str, out: Path, cache: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "EDGEKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgekit", "compress", model, *ARGS, "--out", str(out), *extra],
                          env=full_env, capture_output=True, text=True, timeout=600)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    result = compress("test_resnet", root / "run", root / "cache")
    assert result.returncode == 0, result.stderr
    return root / "run"


def test_killed_run_resumes_to_identical_weights(tmp_path, uninterrupted):
    killed = compress("test_resnet", tmp_path / "run", tmp_path / "cache", env={"EDGEKIT_FAULT_AFTER_EPOCH": "2"})
    assert killed.returncode == -9  # SIGKILL after epoch 2's state reached the disk
    state = tmp_path / ".run.teacher-state.pt"
    assert state.is_file() and not (tmp_path / "run").exists()
    resumed = compress("test_resnet", tmp_path / "run", tmp_path / "cache", "--resume", str(state))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2" in resumed.stderr
    expected, got = weights(uninterrupted), weights(tmp_path / "run")
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert not state.exists()  # finished: the state is removed


def test_corrupt_resume_file_is_refused_and_kept(tmp_path):
    state = tmp_path / "state.pt"
    state.write_bytes(b"PK\x03\x04 truncated")
    result = compress("test_resnet", tmp_path / "run", tmp_path / "cache", "--resume", str(state))
    assert result.returncode == 2 and "corrupt or truncated" in result.stderr
    assert state.read_bytes() == b"PK\x03\x04 truncated" and not (tmp_path / "run").exists()


def test_resume_from_another_model_is_refused(tmp_path):
    killed = compress("test_resnet", tmp_path / "a", tmp_path / "cache", env={"EDGEKIT_FAULT_AFTER_EPOCH": "1"})
    assert killed.returncode == -9
    result = compress("test_effnet", tmp_path / "b", tmp_path / "cache", "--resume", str(tmp_path / ".a.teacher-state.pt"))
    assert result.returncode == 2 and "checkpoint of another model" in result.stderr
