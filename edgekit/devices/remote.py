"""What ssh and adb devices share: a shell with timeouts and retries, a content-addressed file store on the device
(a file is pushed only when its sha256 is not there yet), a per-run working folder removed at the end, and the
wait for cool-down before timing."""

from __future__ import annotations

import hashlib
import logging
import shlex
import tempfile
import time
from abc import abstractmethod
from pathlib import Path
from typing import Callable

from edgekit.core.io import sha256_file
from edgekit.devices.base import Device, DeviceError, DeviceLost
from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers.telemetry import THERMAL_ZONES_COMMAND, parse_thermal_zones
from edgekit.devices.transport import Completed, Transient, with_retries

log = logging.getLogger(__name__)
POLL_SECONDS = 10.0


class RemoteDevice(Device):
    """A device reached through a command-line transport (ssh, adb)."""

    #: the device folder holding `files/` (pushed, kept between runs) and `runs/<id>/` (removed after each run)
    default_base: str = ".cache/edgekit"

    def __init__(self, name: str, settings):
        super().__init__(name, settings)
        self.base = (settings.workdir or self.default_base).rstrip("/")
        self.run_dir = f"{self.base}/runs/{self.run_id}"
        self._pushed: dict[str, str] = {}  # local sha256 -> device path, this run
        self._opened = False

    # --- transport, per kind ---------------------------------------------------------------------------------

    @abstractmethod
    def _shell(self, command: str, timeout: float, stdin: bytes | None = None) -> Completed:
        """Run a shell command on the device (raise Transient for a connection failure)."""

    @abstractmethod
    def _push(self, local: Path, remote: str, timeout: float) -> None:
        """Copy a local file to a device path (its folder exists)."""

    @abstractmethod
    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        """Copy a device file to a local path."""

    # --- shared ----------------------------------------------------------------------------------------------

    def shell(self, command: str, timeout: float | None = None, stdin: bytes | None = None,
              what: str | None = None) -> Completed:
        """A device shell command with the device's timeout, retried while the connection fails transiently."""
        return with_retries(lambda: self._shell(command, timeout or self.settings.timeout, stdin),
                            self.settings.retries, what or f"{self.label}")

    def open(self) -> None:
        result = self.shell(f"mkdir -p {shlex.quote(self.run_dir)} {shlex.quote(self.base + '/files')}",
                            timeout=min(60.0, self.settings.timeout), what=f"connecting to {self.label}")
        if result.returncode != 0:
            raise DeviceError(f"{self.label}: cannot create {self.run_dir}: {result.last_error_line()}")
        self._opened = True

    def close(self) -> None:
        if hasattr(self, "_scratch"):
            self._scratch.cleanup()
            del self._scratch
        if not self._opened:
            return
        self._opened = False
        try:
            self._shell(f"rm -rf {shlex.quote(self.run_dir)}", 30.0)
        except (Transient, DeviceLost) as exc:
            log.info("%s: could not remove %s (%s); remove it by hand", self.label, self.run_dir, exc)

    def ensure_files(self, paths: list[Path]) -> list[str]:
        """Device paths of `paths`, pushing only those whose sha256 the device's store does not have yet."""
        wanted = {}
        for path in paths:
            digest = sha256_file(path)
            wanted[path] = (digest, f"{self.base}/files/{digest[:24]}/{path.name}")
        missing = [p for p, (digest, remote) in wanted.items() if self._pushed.get(digest) != remote]
        if missing:
            listing = self.shell("sha256sum " + " ".join(shlex.quote(wanted[p][1]) for p in missing)
                                 + " 2>/dev/null; true", what=f"checking files on {self.label}")
            present = {line.split()[-1]: line.split()[0] for line in listing.stdout.splitlines() if
                       len(line.split()) >= 2}
            for path in missing:
                digest, remote = wanted[path]
                if present.get(remote) != digest:
                    self._upload(path, remote)
                self._pushed[digest] = remote
        return [wanted[p][1] for p in paths]

    def _upload(self, path: Path, remote: str) -> None:
        folder = remote.rsplit("/", 1)[0]
        made = self.shell(f"mkdir -p {shlex.quote(folder)}", what=f"pushing to {self.label}")
        if made.returncode != 0:
            raise DeviceError(f"{self.label}: cannot create {folder}: {made.last_error_line()}")
        log.info("%s: pushing %s (%.1f MB)", self.label, path.name, path.stat().st_size / 1e6)
        with_retries(lambda: self._push(path, remote, self.settings.timeout), self.settings.retries,
                     f"pushing {path.name} to {self.label}")

    def write_text(self, name: str, text: str) -> str:
        """Write a small text file into this run's folder; returns its device path."""
        remote = f"{self.run_dir}/{name}"
        local = Path(self._local_scratch()) / name
        local.write_text(text)
        with_retries(lambda: self._push(local, remote, self.settings.timeout), self.settings.retries,
                     f"writing {name} on {self.label}")
        return remote

    def fetch(self, remote: str, local: Path) -> Path:
        """Copy a device file here."""
        with_retries(lambda: self._pull(remote, local, self.settings.timeout), self.settings.retries,
                     f"fetching {remote} from {self.label}")
        return local

    def _local_scratch(self) -> str:
        if not hasattr(self, "_scratch"):
            self._scratch = tempfile.TemporaryDirectory(prefix="edgekit-device-")
        return self._scratch.name

    def identity(self) -> dict:
        return {"device": self.label, "kind": self.kind,
                "settings": hashlib.sha256(self.settings.model_dump_json().encode()).hexdigest()[:16]}

    def temperatures(self) -> dict[str, float]:
        """°C of the device's readable thermal zones, by zone type."""
        listing = self.shell(THERMAL_ZONES_COMMAND + "; true", timeout=30.0,
                             what=f"reading {self.label}'s temperatures")
        try:
            return parse_thermal_zones(listing.stdout)
        except ParseError:
            return {}

    def cool_down(self, read_temperatures: Callable[[], dict[str, float]],
                  sleep: Callable[[float], None] = time.sleep) -> tuple[dict[str, float], str | None]:
        """Wait until the hottest zone is under `max_celsius` (at most `cooldown_seconds`); returns the temperatures
        and, when it stayed too hot, a note that makes the timing inconclusive."""
        temperatures = read_temperatures()
        limit = self.settings.max_celsius
        if limit is None or not temperatures:
            return temperatures, None
        waited = 0.0
        while max(temperatures.values()) > limit and waited < self.settings.cooldown_seconds:
            log.info("%s: %.1f °C > %.1f °C; waiting to cool down", self.label, max(temperatures.values()), limit)
            sleep(POLL_SECONDS)
            waited += POLL_SECONDS
            temperatures = read_temperatures()
        hottest = max(temperatures.values())
        if hottest > limit:
            return temperatures, (f"device still at {hottest:.1f} °C (> max_celsius {limit:g}) after "
                                  f"{waited:.0f} s of cool-down: latency is inconclusive")
        return temperatures, None
