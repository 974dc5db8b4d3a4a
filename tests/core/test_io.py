"""core.io on a real full disk: one line naming the path and the MiB left (exit code 2), no temporary file left."""

from __future__ import annotations

import errno

import pytest
from tmpfs import fill, mounted

from edgekit.core import io
from edgekit.core.errors import EXIT_USAGE, ResourceError


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_file_that_cannot_fit_is_refused_before_writing(tmp_path):
    with mounted(tmp_path / "disk", "3m") as disk:
        fill(disk, 100 * 1024)
        with pytest.raises(ResourceError) as caught:
            io.atomic_write_bytes(disk / "weights.bin", bytes(1 << 20))
        assert _files(disk) == ["filler"]
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE and "\n" not in message
    assert message == (f"disk full: 'weights.bin' needs 1.0 MiB but '{disk}' has 0.1 MiB free on its file system; "
                       "free some space or write somewhere else")


def test_enospc_while_writing_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "ensure_free_space", lambda *args: None)  # let the kernel find the disk full
    with mounted(tmp_path / "disk", "3m") as disk:
        io.atomic_write_text(disk / "report.json", "earlier\n")
        fill(disk, 100 * 1024)
        with pytest.raises(ResourceError) as caught:
            io.atomic_write_bytes(disk / "report.json", bytes(1 << 20))
        assert _files(disk) == ["filler", "report.json"] and (disk / "report.json").read_text() == "earlier\n"
        free = io.mib(io.free_bytes(disk))
    assert caught.value.exit_code == EXIT_USAGE and "\n" not in str(caught.value)
    assert str(caught.value) == (f"disk full writing '{disk / 'report.json'}': {free} free on its file system; "
                                 "free some space or write somewhere else")


def test_other_os_errors_pass_through(tmp_path):
    with pytest.raises(PermissionError), io.no_space_as_error(tmp_path):
        raise PermissionError(errno.EACCES, "denied")


def test_free_space_of_a_folder_not_made_yet_is_its_parents(tmp_path):
    assert io.free_bytes(tmp_path / "a" / "b") == io.free_bytes(tmp_path) > 0
