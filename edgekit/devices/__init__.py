"""Devices: where exported files are timed — this host, Linux boards over ssh, Android phones over adb."""

from __future__ import annotations

from pathlib import Path

from edgekit.devices import adb, local, ssh  # noqa: F401 - registers the device kinds
from edgekit.devices.base import DEVICE_KINDS, Check, Device, DeviceError, DeviceLost, FileTiming, TimingRequest
from edgekit.devices.config import SPEC_HELP, resolve

__all__ = ["Check", "Device", "DeviceError", "DeviceLost", "FileTiming", "SPEC_HELP", "TimingRequest",
           "open_device"]


def open_device(spec: str, devices_file: str | Path | None = None) -> Device:
    """The device a `--device` text names (not yet connected: use `with device.session():`)."""
    kind, label, settings = resolve(spec, devices_file)
    return DEVICE_KINDS.get(kind)(label, settings)
