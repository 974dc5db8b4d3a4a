"""Device telemetry: Android getprop / thermal zones / dumpsys thermalservice here; Jetson nvpmodel / jetson_clocks /
tegrastats (_jetson.py) and /proc/cpuinfo on x86 and ARM (_cpuinfo.py) are re-exported, so every telemetry parser
is imported from this module."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers._cpuinfo import CpuInfo, parse_cpuinfo
from edgekit.devices.parsers._jetson import (
    Clock,
    CpuCore,
    JetsonClocks,
    JetsonCpu,
    NvpModel,
    PowerRail,
    TegraStats,
    parse_jetson_clocks,
    parse_nvpmodel,
    parse_tegrastats,
)
from edgekit.devices.parsers._text import NUMBER, excerpt, finite
from edgekit.devices.parsers._text import require_text as _require_text

__all__ = ["THERMAL_STATUS_NAMES", "THERMAL_ZONES_COMMAND", "Clock", "CpuCore", "CpuInfo", "JetsonClocks",
           "JetsonCpu", "NvpModel", "PowerRail", "TegraStats", "ThermalStatus", "parse_cpuinfo",
           "parse_dumpsys_thermal", "parse_getprop", "parse_getprop_value", "parse_jetson_clocks", "parse_nvpmodel",
           "parse_tegrastats", "parse_thermal_zones"]

# ------------------------------------------------------------------------------------------------------------------
# Android: getprop
# ------------------------------------------------------------------------------------------------------------------

_PROP = re.compile(r"^\[([^\]]+)\]: \[(.*)$")
_MAX_PROP_LINES = 64  # a value continued over more lines than this is garbage, not a property


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` with no argument: ``[key]: [value]`` lines -> {key: value}.

    Empty values stay "" (``[ro.soc.model]: []`` on devices before Android 12); a value that continues over
    several lines is joined with newlines; lines that are not properties (adb warnings) are skipped. Raises
    ParseError when no property is found (empty output included).
    """
    _require_text(text, "getprop")
    props: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _PROP.match(lines[i].rstrip("\r"))
        i += 1
        if match is None:
            continue
        key, rest = match.group(1), match.group(2)
        parts = [rest]
        while not parts[-1].endswith("]") and i < len(lines) and len(parts) < _MAX_PROP_LINES:
            if _PROP.match(lines[i]):
                break
            parts.append(lines[i].rstrip("\r"))
            i += 1
        value = "\n".join(parts)
        if value.endswith("]"):
            props[key] = value[:-1]
    if not props:
        raise ParseError(f"getprop printed no [key]: [value] line ({excerpt(text)})")
    return props


def parse_getprop_value(text: str) -> str | None:
    """`getprop KEY`: the value, or None when the property is unset (getprop prints an empty line)."""
    _require_text(text, "getprop")
    value = text.strip()
    return value or None


# ------------------------------------------------------------------------------------------------------------------
# Linux/Android: thermal zones
# ------------------------------------------------------------------------------------------------------------------

#: the shell loop whose output parse_thermal_zones reads (one "TYPE<TAB>VALUE" line per zone)
THERMAL_ZONES_COMMAND = ("for z in /sys/class/thermal/thermal_zone*; do "
                         "printf '%s\\t%s\\n' \"$(cat $z/type 2>/dev/null)\" \"$(cat $z/temp 2>/dev/null)\"; done")
_PLAUSIBLE_C = (-60.0, 200.0)


def parse_thermal_zones(text: str) -> dict[str, float]:
    """Zone temperatures in °C from the output of `THERMAL_ZONES_COMMAND`.

    Input: one line per zone, ``TYPE<TAB>VALUE``, where TYPE is the zone's ``type`` file and VALUE its ``temp``
    file. Linux gives millidegrees Celsius (``45000`` = 45 °C); some old vendor drivers give whole degrees, so
    values with |v| < 200 are read as °C and |v| >= 1000 as m°C. Zones that read garbage are skipped: an empty
    or non-integer value (a driver error such as EINVAL), a value in 200..999 (neither unit is certain) or a
    temperature outside -60..200 °C (sentinels such as -274000 or Tegra's -256000 for a powered-down sensor).
    A repeated type gets a ``#2``, ``#3``... suffix; an empty type is named ``zoneN`` (N counts lines from 0).
    Raises ParseError when no zone reads.
    """
    _require_text(text, "thermal zones")
    temps: dict[str, float] = {}
    for number, raw in enumerate(text.splitlines()):
        line = raw.rstrip("\r")
        if "\t" in line:
            name, _, value = line.rpartition("\t")
        else:
            name, _, value = line.strip().rpartition(" ")
        name, value = name.strip() or f"zone{number}", value.strip()
        celsius = _zone_celsius(value)
        if celsius is None:
            continue
        key, n = name, 1
        while key in temps:
            n += 1
            key = f"{name}#{n}"
        temps[key] = celsius
    if not temps:
        raise ParseError(f"thermal zones: no zone printed a readable temperature ({excerpt(text)})")
    return temps


def _zone_celsius(value: str) -> float | None:
    if not re.fullmatch(r"-?\d{1,12}", value):
        return None
    raw = int(value)
    if abs(raw) >= 1000:
        celsius = raw / 1000.0
    elif abs(raw) < 200:
        celsius = float(raw)
    else:
        return None
    low, high = _PLAUSIBLE_C
    return celsius if low <= celsius <= high else None


# ------------------------------------------------------------------------------------------------------------------
# Android: dumpsys thermalservice
# ------------------------------------------------------------------------------------------------------------------

#: AOSP ThrottlingSeverity / PowerManager.THERMAL_STATUS_* values
THERMAL_STATUS_NAMES = ("NONE", "LIGHT", "MODERATE", "SEVERE", "CRITICAL", "EMERGENCY", "SHUTDOWN")
#: Temperature types that hold volts, amperes or percent, not degrees (BCL_VOLTAGE, BCL_CURRENT, BCL_PERCENTAGE)
_NOT_DEGREES = {6, 7, 8}
_STATUS = re.compile(r"^\s*Thermal Status: (-?\d+)\s*$")
_TEMPERATURE = re.compile(
    rf"Temperature\{{mValue=({NUMBER}|NaN), mType=(-?\d+), mName=([^,}}]*), mStatus=(-?\d+)\}}")


@dataclass(frozen=True)
class ThermalStatus:
    """`dumpsys thermalservice`, read for benchmarking.

    `throttling` is True from THERMAL_STATUS_LIGHT (1) up, for the service's status or any sensor's own
    status: AOSP documents LIGHT as "light throttling where UX is not impacted", and any throttling makes a
    latency measurement unrepresentative, so a benchmark should wait (or say so) rather than treat LIGHT as cool.
    `temperatures` come from "Current temperatures from HAL" (the cached ones when the HAL section is empty), in
    °C, without NaN readings and without the battery-current-limit sensors (volts, amperes, percent).
    """

    status: int | None
    temperatures: dict[str, float]
    throttling: bool
    max_sensor_status: int | None = None
    source: str | None = None  # "hal" | "cached" | None

    @property
    def status_name(self) -> str | None:
        if self.status is None:
            return None
        return THERMAL_STATUS_NAMES[self.status] if 0 <= self.status < len(THERMAL_STATUS_NAMES) else "UNKNOWN"


def parse_dumpsys_thermal(text: str) -> ThermalStatus:
    """Read `adb shell dumpsys thermalservice` (Android 10+, ThermalManagerService.dump)."""
    _require_text(text, "dumpsys thermalservice")
    status = None
    sections: dict[str, list[tuple[str, float, int]]] = {"hal": [], "cached": []}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        match = _STATUS.match(line)
        if match and status is None:
            status = int(match.group(1)) if len(match.group(1)) < 6 else None
            continue
        if line.startswith("Cached temperatures:"):
            section = "cached"
        elif line.startswith("Current temperatures from HAL:"):
            section = "hal"
        elif line.endswith(":") and not line.startswith("Temperature{"):
            section = None
        match = _TEMPERATURE.search(line)
        if match is None or section is None:
            continue
        value, kind, name, sensor_status = match.groups()
        celsius = finite(value)
        if celsius is None or len(kind) > 6 or int(kind) in _NOT_DEGREES or len(sensor_status) > 6:
            continue
        sections[section].append((name.strip(), celsius, int(sensor_status)))
    source = "hal" if sections["hal"] else "cached" if sections["cached"] else None
    readings = sections[source] if source else []
    if status is None and not readings:
        raise ParseError(f"dumpsys thermalservice printed neither 'Thermal Status:' nor a temperature "
                         f"({excerpt(text)})")
    temperatures: dict[str, float] = {}
    for name, celsius, _ in readings:
        key, n = name or "unnamed", 1
        while key in temperatures:
            n += 1
            key = f"{name}#{n}"
        temperatures[key] = celsius
    max_sensor = max((s for _, _, s in readings), default=None)
    throttling = max(status if status is not None else 0, max_sensor if max_sensor is not None else 0) >= 1
    return ThermalStatus(status=status, temperatures=temperatures, throttling=throttling,
                         max_sensor_status=max_sensor, source=source)
