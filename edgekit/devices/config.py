"""`--device` specs and devices.yaml: named devices with their connection, cores, binaries and thermal limits.

    devices:
      pi5:                      # --device pi5
        ssh: pi@raspberrypi.local   # user@host, or an alias of ~/.ssh/config (keys, agent, jump hosts: yours)
        port: 22
        python: python3         # the device's Python with numpy and a runtime
        cpus: "4-7"             # pin the worker (taskset / sched_setaffinity)
        max_celsius: 70         # hotter than this before a run: wait for cool-down, else inconclusive
        cooldown_seconds: 120
      pixel8:
        adb: 3A2B1C0D           # serial (`adb devices`)
        cpus: "4-7"             # big cores: pinned with taskset
        binaries:               # pushed when they change; or already on the device (absolute device paths)
          benchmark_model: ~/bin/android_aarch64_benchmark_model
          executor_runner: ~/bin/executor_runner

No secrets live here: ssh uses the user's own keys, agent and ~/.ssh/config. Looked up in order: the file given
(`--devices`), $EDGEKIT_DEVICES, ./devices.yaml, ~/.config/edgekit/devices.yaml.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgekit.core.errors import EdgekitError
from edgekit.core.io import read_yaml
from edgekit.core.registry import Registry

SPEC_HELP = "local | ssh:USER@HOST[:PORT] | ssh:ALIAS | adb:SERIAL | a name in devices.yaml"


class DeviceSettings(BaseModel):
    """One device: how to reach it and how to measure on it."""

    model_config = ConfigDict(extra="forbid")
    ssh: Optional[str] = Field(None, description="user@host or an ~/.ssh/config alias")
    adb: Optional[str] = Field(None, description="serial number (adb devices); empty for the only device")
    port: Optional[int] = Field(None, ge=1, le=65535)
    python: str = "python3"
    cpus: Optional[str] = Field(None, description="CPUs to pin to, e.g. 4-7")
    workdir: Optional[str] = Field(None, description="device folder for edgekit's files (default per kind)")
    binaries: dict[str, str] = {}
    adb_path: str = "adb"
    ssh_options: list[str] = []
    max_celsius: Optional[float] = Field(None, gt=0, description="hotter than this: cool down or inconclusive")
    cooldown_seconds: float = Field(120.0, ge=0, description="longest wait for the device to cool down")
    timeout: float = Field(900.0, gt=0, description="seconds any one remote command may take")
    retries: int = Field(2, ge=0, le=10, description="retries of a transient connection failure")

    @model_validator(mode="after")
    def _one_transport(self) -> DeviceSettings:
        if (self.ssh is None) == (self.adb is None):
            raise ValueError("give exactly one of 'ssh: USER@HOST' or 'adb: SERIAL'")
        return self


class DevicesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: dict[str, DeviceSettings] = {}


def devices_file(explicit: str | Path | None = None) -> Path | None:
    """The devices.yaml in use: the one given, $EDGEKIT_DEVICES, ./devices.yaml, ~/.config/edgekit/devices.yaml."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise EdgekitError(f"devices file '{path}' does not exist")
        return path
    candidates = [os.environ.get("EDGEKIT_DEVICES"), "devices.yaml", "~/.config/edgekit/devices.yaml"]
    return next((Path(c).expanduser() for c in candidates if c and Path(c).expanduser().is_file()), None)


def load_devices(explicit: str | Path | None = None) -> tuple[dict[str, DeviceSettings], Path | None]:
    """Named devices of the devices file in use (none when there is no file)."""
    path = devices_file(explicit)
    if path is None:
        return {}, None
    data = read_yaml(path, "devices file") or {}
    try:
        return DevicesFile.model_validate(data).devices, path
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise EdgekitError(f"{path}: {where}: {error['msg']}") from None


def cpu_list(text: str | None) -> list[int] | None:
    """'0,2-3' -> [0, 2, 3] (None for none); ValueError when it is not such a list."""
    if not text:
        return None
    cpus: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if first < 0 or last < first:
            raise ValueError(f"'{text}' is not a CPU list such as 0, 0,2 or 0-3")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


_PORT = re.compile(r"^(?P<target>.+?)(?::(?P<port>\d+))?$")


def resolve(spec: str, explicit_file: str | Path | None = None) -> tuple[str, str, DeviceSettings | None]:
    """`--device` text -> (kind, label, settings); kind is local, ssh or adb. Unknown names get a did-you-mean."""
    text = spec.strip()
    if text in ("", "local"):
        return "local", "local", None
    if text.startswith("ssh:"):
        match = _PORT.match(text[4:])
        if not text[4:] or match is None or "/" in text[4:] or " " in text[4:]:
            raise EdgekitError(f"--device '{spec}' is not ssh:USER@HOST[:PORT] or ssh:ALIAS")
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 1 <= port <= 65535:
            raise EdgekitError(f"--device '{spec}': port {port} is not between 1 and 65535")
        return "ssh", text, DeviceSettings(ssh=match["target"], port=port,
                                           python=os.environ.get("EDGEKIT_DEVICE_PYTHON", "python3"))
    if text == "adb" or text.startswith("adb:"):
        serial = text[4:] if text.startswith("adb:") else ""
        return "adb", text, DeviceSettings(adb=serial)
    named, path = load_devices(explicit_file)
    if not named:
        where = f"{path} names no devices" if path else ("no devices.yaml found (./devices.yaml, "
                                                          "~/.config/edgekit/devices.yaml, $EDGEKIT_DEVICES)")
        raise EdgekitError(f"unknown device '{spec}': {where}; use {SPEC_HELP}")
    if text in named:
        settings = named[text]
        return ("ssh" if settings.ssh is not None else "adb"), text, settings
    registry: Registry[DeviceSettings] = Registry(
        "device", f"{SPEC_HELP}; named devices come from {path}" if path else
        f"{SPEC_HELP}; no devices.yaml found (./devices.yaml, ~/.config/edgekit/devices.yaml, $EDGEKIT_DEVICES)")
    for name, settings in named.items():
        registry.add(name, settings)
    name = registry.canonical(text)  # raises with a did-you-mean
    settings = named[name]
    return ("ssh" if settings.ssh is not None else "adb"), name, settings
