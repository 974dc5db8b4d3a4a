"""The stage cache: content-addressed entries, one folder per (stage, key), checked by sha256 on every read.

An entry is a folder `<root>/<stage>/<key>/` holding the stage's files and `entry.json`: what the entry is, when it
was made, its record (the stage's metrics and typed output) and the size and sha256 of every file. A folder becomes
an entry only by an atomic rename of a finished staging folder, so a crash never leaves half an entry; an entry whose
files or record no longer match their hashes is removed and recomputed, never trusted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from edgekit.core.errors import EdgekitError, ResourceError
from edgekit.core.io import atomic_write_json, free_bytes, mib, sha256_file
from edgekit.core.rundir import pid_alive
from edgekit.core.ui import info

ENTRY_FILE = "entry.json"
ENTRY_FORMAT = "edgekit-stage-cache"
STAGING_PREFIX = ".staging-"


def digest(payload: Any) -> str:
    """sha256 of a JSON-able payload, keys sorted: the cache key of a stage's inputs, options and versions."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Entry:
    """A stage output in the cache: its folder and its record."""

    stage: str
    key: str
    path: Path
    meta: dict

    @property
    def record(self) -> dict:
        return self.meta["record"]

    def file(self, name: str) -> Path:
        return self.path / name


class Store:
    """The cache root; `enabled=False` (--no-cache) keeps entries for this run only, in a folder removed at close."""

    def __init__(self, root: Path, enabled: bool = True):
        self.enabled = enabled
        self.root = Path(root) if enabled else Path(tempfile.mkdtemp(prefix="edgekit-run-"))

    def check_usable(self) -> None:
        """One clear line when the cache cannot be created, read or written (before any work)."""
        ancestor = self.root
        while not ancestor.exists():
            ancestor = ancestor.parent
        fix = "set EDGEKIT_CACHE to a writable folder or pass --no-cache"
        if not ancestor.is_dir():
            raise EdgekitError(f"the cache folder '{self.root}' cannot be created: '{ancestor}' is not a folder; {fix}")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise EdgekitError(f"the cache folder '{self.root}' is not writable; {fix}")
        if self.root.exists() and not os.access(self.root, os.R_OK | os.X_OK):
            raise EdgekitError(f"the cache folder '{self.root}' is not readable; fix its permissions or {fix}")

    def close(self) -> None:
        if not self.enabled:
            shutil.rmtree(self.root, ignore_errors=True)

    def _folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def lookup(self, stage: str, key: str) -> Entry | None:
        """The verified entry of (stage, key), or None; a damaged entry is removed (and said so) and missed."""
        folder = self._folder(stage, key)
        if not (folder / ENTRY_FILE).is_file():
            return None
        problem = self._problem(folder, stage, key)
        if problem is None:
            return Entry(stage, key, folder, json.loads((folder / ENTRY_FILE).read_text()))
        info(f"[yellow]warning:[/] cache entry {stage}/{key[:12]} is damaged ({problem}); recomputing it")
        shutil.rmtree(folder, ignore_errors=True)
        return None

    def _problem(self, folder: Path, stage: str, key: str) -> str | None:
        try:
            meta = json.loads((folder / ENTRY_FILE).read_text())
        except (OSError, ValueError) as exc:
            return f"unreadable {ENTRY_FILE}: {type(exc).__name__}"
        if not isinstance(meta, dict) or meta.get("format") != ENTRY_FORMAT or meta.get("key") != key \
                or meta.get("stage") != stage:
            return "not an entry of this stage and key"
        if digest(meta.get("record")) != meta.get("record_sha256"):
            return "its record was changed"
        for name, expected in (meta.get("files") or {}).items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != expected["size"] or sha256_file(path) != expected["sha256"]:
                return f"{name} does not match its sha256"
        return None

    def staging(self, stage: str) -> Path:
        """A fresh private folder for a stage to write its files into, on the cache's file system (named after
        this process, so the next run can tell a dead run's leftovers from a running one's)."""
        base = self.root / stage
        try:
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=base))
        except OSError as exc:
            raise cache_write_error(self.root, exc) from exc

    def commit(self, stage: str, key: str, folder: Path, record: dict, about: dict) -> Entry:
        """Hash the files in `folder`, write its entry.json and rename it into place as the entry of (stage, key)."""
        files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": sha256_file(p)}
                 for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ENTRY_FILE}
        meta = {"format": ENTRY_FORMAT, "stage": stage, "key": key, "created": time.time(), **about,
                "record": record, "record_sha256": digest(record), "files": files}
        target = self._folder(stage, key)
        try:
            atomic_write_json(folder / ENTRY_FILE, meta)
            if target.exists():  # --refresh, or a damaged entry: the new one replaces it
                shutil.rmtree(target)
            os.replace(folder, target)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and (target / ENTRY_FILE).is_file():
                shutil.rmtree(folder, ignore_errors=True)  # another run committed the same key first
            else:
                raise cache_write_error(self.root, exc) from exc
        return Entry(stage, key, target, json.loads((target / ENTRY_FILE).read_text()))

    def entries(self) -> Iterator[tuple[Path, dict | None]]:
        """Every entry folder and its parsed entry.json (None when unreadable), for `edgekit cache ls`."""
        if not self.root.is_dir():
            return
        for stage_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for folder in sorted(p for p in stage_dir.iterdir() if p.is_dir()):
                if folder.name.startswith(STAGING_PREFIX):
                    continue
                try:
                    meta = json.loads((folder / ENTRY_FILE).read_text())
                except (OSError, ValueError):
                    meta = None
                yield folder, meta

    def remove_stale_staging(self) -> int:
        """Staging folders of runs that died (their process is gone): removed; returns how many."""
        removed = 0
        for folder in self.root.glob(f"*/{STAGING_PREFIX}*") if self.root.is_dir() else ():
            pid = folder.name[len(STAGING_PREFIX):].split("-", 1)[0]
            if not pid.isdigit() or not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def cache_write_error(root: Path, exc: OSError) -> EdgekitError:
    """One line for a cache that cannot take a write: disk full names the space left, else the OS reason."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(f"the cache folder '{root}' is full ({mib(free_bytes(root))} free); free space, set "
                             "EDGEKIT_CACHE elsewhere, run `edgekit cache clear`, or pass --no-cache")
    return EdgekitError(f"cannot write to the cache folder '{root}' ({exc.strerror or exc}); set EDGEKIT_CACHE "
                        "elsewhere or pass --no-cache")
