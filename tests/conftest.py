"""Shared fixtures: an isolated cache, and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
