"""Shared fixtures: an isolated cache, and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "bench"))  # `from doubles import ...` works from any test folder


def pytest_configure(config):
    """Under pytest-xdist (`scripts/test.sh` runs one worker per core) each worker and the CLIs it starts use one
    torch/OpenMP thread: workers that each spin a thread per core slow one another down."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


#: The suite's longest tests (one to two minutes each on one core), longest first: they start first, so that the
#: workers finish together rather than one of them running a long test alone at the end
LONG_FIRST = ("tests/stages/test_quantize.py::test_prune_distil_qat_chain",
              "tests/stages/test_prune.py::test_compress_prune_end_to_end",
              "tests/models/test_dynamic_conv.py::test_compress", "tests/models/test_plugin_package.py",
              "tests/models/test_skipnet.py::test_compress", "tests/models/test_t2t_vit.py::test_compress",
              "tests/devices/test_adb.py::test_push_pinned", "tests/stages/test_distributed.py",
              "tests/models/test_attention.py::test_compress_prunes")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)  # longest first; a stable sort: the rest keep their order


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own teacher/zoo cache, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "edgekit-cache"
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m edgekit ARGS` as a user would; returns the completed process."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("EDGEKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "edgekit", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def cli():
    return run_cli


def run_cli_in_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`edgekit ARGS` through the real entry point in this process (no interpreter start-up: for the many
    bad-input cases; `run_cli` covers what only a real process shows, such as native libraries' stderr)."""
    import contextlib
    import io

    from edgekit.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_cwd, saved_env, saved_argv = os.getcwd(), dict(os.environ), sys.argv
    os.chdir(cwd or REPO)
    os.environ.update(env or {})
    os.environ.pop("EDGEKIT_DEBUG", None)
    sys.argv = ["edgekit", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
    return subprocess.CompletedProcess(["edgekit", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli_fast():
    return run_cli_in_process
