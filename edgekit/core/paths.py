"""Where edgekit keeps what outlives a run: the cache (stage outputs, downloaded data, zoo statistics)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$EDGEKIT_CACHE, else ~/.cache/edgekit."""
    return Path(os.environ.get("EDGEKIT_CACHE", Path.home() / ".cache" / "edgekit"))
