"""Device fixtures: tiny exported files, and a real OpenSSH server on 127.0.0.1 with a throwaway key."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from loopback_sshd import SSHD, Sshd


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    """A tiny conv net (3×32×32 -> 10) exported to .onnx, .tflite and .pte with edgekit's exporters."""
    import torch

    from edgekit.exporters import export

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    folder = tmp_path_factory.mktemp("tiny")
    files = {}
    for fmt in ("onnx", "tflite", "pte"):
        files[fmt] = folder / f"tiny.{fmt}"
        export(fmt, model, torch.zeros(1, 3, 32, 32), files[fmt])
    return files


@pytest.fixture
def sshd(tmp_path_factory, monkeypatch):
    """A running sshd on a free loopback port, and EDGEKIT_SSH_OPTIONS pointing ssh at its key."""
    if SSHD is None or shutil.which("ssh") is None:
        pytest.skip("OpenSSH (sshd and ssh) is not installed: apt-get install openssh-server")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    monkeypatch.setenv("EDGEKIT_SSH_OPTIONS", server.ssh_options)
    monkeypatch.setenv("EDGEKIT_DEVICE_PYTHON", sys.executable)
    yield server
    server.stop()
