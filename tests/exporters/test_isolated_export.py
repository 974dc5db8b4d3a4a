"""Isolated exports (tflite, pte): a converter that aborts or fills the disk is one error line; results come back."""

from __future__ import annotations

import errno
import faulthandler
import os

import pytest
import torch
from tmpfs import mounted

from edgekit.core import child
from edgekit.core.errors import EXIT_INTERNAL, EXIT_USAGE, EdgekitError, ResourceError
from edgekit.core.formats import FORMATS
from edgekit.exporters import ExportResult, base, export


def _installed(name: str) -> bool:
    try:
        FORMATS.get(name).check_installed()
    except EdgekitError:
        return False
    return True


pytestmark = pytest.mark.skipif(not child.available(), reason="forked children are Linux-only")
# its BatchNorm makes LiteRT conversion verify in JAX's MLIR thread pool
MODEL = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
EXAMPLE = torch.zeros(1, 3, 8, 8)


def _exporter(monkeypatch, name: str, fake) -> None:
    if not _installed(name):
        pytest.skip(f"the {name} extra is not installed")
    module, func = FORMATS.get(name).exporter.split(":")
    monkeypatch.setattr(f"{module}.{func}", fake)


def _llvm_abort(model, example, path, **options):
    faulthandler.disable()  # pytest's would print the child's Python stack on the test's stderr
    os.write(2, b"LLVM ERROR: IO failure on output stream: No space left on device\n")
    os.abort()


@pytest.mark.parametrize("fmt", ["tflite", "pte"])
def test_a_converter_abort_is_one_line_naming_the_format(monkeypatch, tmp_path, fmt):
    _exporter(monkeypatch, fmt, _llvm_abort)
    with pytest.raises(EdgekitError) as caught:
        export(fmt, MODEL, EXAMPLE, tmp_path / f"tiny.{fmt}")
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_INTERNAL and "\n" not in message
    assert message.startswith(f"{fmt} export of 'tiny.{fmt}' crashed (SIGABRT: LLVM ERROR: IO failure")


def test_a_converter_that_fills_the_disk_and_aborts_says_disk_full(monkeypatch, tmp_path):
    def fill_then_abort(model, example, path, **options):
        with path.open("wb") as handle:
            try:
                while True:
                    handle.write(bytes(1 << 20))
                    handle.flush()
            except OSError:
                _llvm_abort(model, example, path)

    _exporter(monkeypatch, "tflite", fill_then_abort)
    with mounted(tmp_path / "disk", "3m") as disk:
        with pytest.raises(ResourceError) as caught:
            export("tflite", MODEL, EXAMPLE, disk / "tiny.tflite")
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE and "\n" not in message
    assert message.startswith("tflite export of 'tiny.tflite' stopped (SIGABRT: LLVM ERROR")
    assert f"the disk is full, '{disk}' has 0.0 MiB free; free some space and run again" in message


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_enospc_raised_in_python_is_the_disk_full_line(monkeypatch, tmp_path, fmt):
    def no_space(model, example, path, **options):
        raise OSError(errno.ENOSPC, "No space left on device")

    _exporter(monkeypatch, fmt, no_space)
    with pytest.raises(ResourceError, match=rf"^disk full writing '.*tiny.{fmt}': \d+\.\d MiB free on its file system"):
        export(fmt, MODEL, EXAMPLE, tmp_path / f"tiny.{fmt}")


@pytest.mark.parametrize("fmt, isolated", [("onnx", False), ("tflite", True), ("pte", True)])
def test_the_result_comes_back_intact(monkeypatch, tmp_path, fmt, isolated):
    def fake(model, example, path, **options):
        notes = [f"pid {os.getpid()}", f"threads {torch.get_num_threads()}", f"options {options}"]
        return ExportResult(path=path, op_counts={"CONV_2D": 2}, fallback_ops=["GATHER"], notes=notes)

    _exporter(monkeypatch, fmt, fake)
    threads = torch.get_num_threads()
    result = export(fmt, MODEL, EXAMPLE, tmp_path / f"tiny.{fmt}", interface="float")
    in_child = [f"threads {1 if isolated else threads}", "options {'interface': 'float'}"]
    assert result == ExportResult(tmp_path / f"tiny.{fmt}", {"CONV_2D": 2}, ["GATHER"], result.notes[:1] + in_child)
    assert (result.notes[0] != f"pid {os.getpid()}") is isolated and torch.get_num_threads() == threads


def test_a_real_conversion_in_a_child_after_one_in_this_process(tmp_path, monkeypatch):
    """A conversion here starts JAX's MLIR thread pool; a forked child must not wait on the pool's lost threads."""
    if not _installed("tflite"):
        pytest.skip("the tflite extra is not installed")
    from edgekit.exporters.tflite import export_tflite

    monkeypatch.setattr(base, "EXPORT_TIMEOUT_S", 60.0)  # a regression fails here instead of hanging for an hour
    here = export_tflite(MODEL, EXAMPLE, tmp_path / "here.tflite")
    there = export("tflite", MODEL, EXAMPLE, tmp_path / "child.tflite")
    assert there.op_counts == here.op_counts and there.path.read_bytes() == here.path.read_bytes()
