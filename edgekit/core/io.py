"""Atomic file writes, hashing, and free-space checks that turn a full disk into one clear line."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import yaml

from edgekit.core.errors import EdgekitError, ResourceError, first_line

_UMASK = os.umask(0)
os.umask(_UMASK)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(path: Path) -> int:
    """Bytes this user may still write on the file system holding `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def disk_full(path: Path) -> ResourceError:
    """The one-line error for a write to `path` that found its file system full."""
    return ResourceError(f"disk full writing '{path}': {mib(free_bytes(path))} free on its file system; "
                         "free some space or write somewhere else")


def ensure_free_space(folder: Path, nbytes: int, what: str) -> None:
    """Raise a one-line ResourceError before writing `what` (`nbytes` bytes) into `folder` if it cannot fit."""
    free = free_bytes(folder)
    if free < nbytes:
        raise ResourceError(f"disk full: {what} needs {mib(nbytes)} but '{folder}' has {mib(free)} free on its "
                            "file system; free some space or write somewhere else")


@contextlib.contextmanager
def no_space_as_error(path: Path) -> Iterator[None]:
    """Turn an out-of-space OSError (ENOSPC, EDQUOT) raised while writing `path` (or the file it names) into
    `disk_full`."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            raise
        raise disk_full(Path(os.fsdecode(exc.filename)) if exc.filename else path) from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and os.replace.

    A full disk raises a one-line ResourceError (checked before writing, and on ENOSPC) and leaves no temporary file.
    """
    path = Path(path)
    ensure_free_space(path.parent, len(data), f"'{path.name}'")
    with no_space_as_error(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            publish(Path(tmp), path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def publish(tmp: Path, path: Path) -> None:
    """Move a finished temporary file (same directory) to `path` atomically, with normal permissions."""
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_yaml(path: Path, where: str):
    """A YAML file's content (safe loader); a missing, unreadable or malformed file is one line naming `where`."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise EdgekitError(f"{where} does not exist") from exc
    except OSError as exc:
        raise EdgekitError(f"{where} cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise EdgekitError(f"{where} is not valid YAML ({first_line(exc)})") from exc
