"""core.rundir: a failed run leaves the earlier run untouched; staging folders of dead runs are swept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgekit.core import rundir
from edgekit.core.errors import ResourceError
from edgekit.core.rundir import RunDirectory


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def earlier(tmp_path):
    with RunDirectory(tmp_path / "run", overwrite=False) as run:
        run.path("model", "model.json").write_text("{}")
        run.path("report.json").write_text("earlier")
        run.commit()
    return tmp_path / "run", _tree(tmp_path / "run")


def test_a_failed_run_leaves_the_earlier_run_and_no_staging(earlier):
    final, before = earlier
    with pytest.raises(ResourceError), RunDirectory(final, overwrite=True) as run:
        run.path("report.json").write_text("half")
        raise ResourceError("disk full")
    assert _tree(final) == before and [p.name for p in final.parent.iterdir()] == ["run"]


def test_a_failed_swap_puts_the_earlier_run_back(earlier, monkeypatch):
    final, before = earlier
    replace = os.replace

    def failing(src, dst):
        if ".partial-" in str(src):
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(rundir.os, "replace", failing)
    with pytest.raises(ResourceError, match="disk full"), RunDirectory(final, overwrite=True) as run:
        run.path("report.json").write_text("new")
        run.commit()
    assert _tree(final) == before and [p.name for p in final.parent.iterdir()] == ["run"]


def test_entering_sweeps_staging_of_dead_runs_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = {pid: tmp_path / f".run.partial-{pid}" for pid in (int(dead.stdout), os.getpid(), os.getppid())}
    for folder in stale.values():
        (folder / "model").mkdir(parents=True)
    other = tmp_path / ".other.partial-1"
    other.mkdir()
    with RunDirectory(tmp_path / "run", overwrite=False) as run:
        left = sorted(p.name for p in tmp_path.iterdir())
        assert run.staging == stale[os.getpid()] and not any(run.staging.iterdir())  # this process's: a fresh one
    assert left == sorted([".other.partial-1", stale[os.getppid()].name, stale[os.getpid()].name])
