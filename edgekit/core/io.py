"""Atomic file writes and hashing."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and os.replace."""
    path = Path(path)
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


def ensure_free_space(folder: Path, nbytes: int, what: str) -> None:
    """Refuse to start writing `nbytes` into `folder` when its file system has less free (one line, exit 2)."""
    import shutil

    from edgekit.core.errors import EdgekitError

    probe = Path(folder)
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < nbytes:
        raise EdgekitError(f"not enough disk space for {what} in '{folder}': {nbytes / 2**20:.1f} MiB needed, "
                           f"{free / 2**20:.1f} MiB free")


def read_yaml(path: Path, where: str):
    """A YAML file's content (safe loader); a missing, unreadable or malformed file is one line naming `where`."""
    import yaml

    from edgekit.core.errors import EdgekitError, first_line

    try:
        return yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise EdgekitError(f"{where} does not exist") from exc
    except OSError as exc:
        raise EdgekitError(f"{where} cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise EdgekitError(f"{where} is not valid YAML ({first_line(exc)})") from exc
