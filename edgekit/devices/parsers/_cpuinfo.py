"""/proc/cpuinfo on x86 and ARM (public through telemetry.py)."""

from __future__ import annotations

from typing import NamedTuple

from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers._text import excerpt
from edgekit.devices.parsers._text import require_text as _require_text

# ------------------------------------------------------------------------------------------------------------------
# /proc/cpuinfo
# ------------------------------------------------------------------------------------------------------------------

_ARM_IMPLEMENTERS = {0x41: "ARM", 0x42: "Broadcom", 0x48: "HiSilicon", 0x4E: "NVIDIA", 0x51: "Qualcomm",
                     0x53: "Samsung", 0x61: "Apple", 0xC0: "Ampere"}
#: (implementer, part) -> core name, from Linux's arch/arm64/include/asm/cputype.h
_ARM_PARTS = {
    (0x41, 0xB76): "ARM1176", (0x41, 0xC07): "Cortex-A7", (0x41, 0xC09): "Cortex-A9", (0x41, 0xC0F): "Cortex-A15",
    (0x41, 0xD02): "Cortex-A34", (0x41, 0xD03): "Cortex-A53", (0x41, 0xD04): "Cortex-A35",
    (0x41, 0xD05): "Cortex-A55", (0x41, 0xD06): "Cortex-A65", (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72", (0x41, 0xD09): "Cortex-A73", (0x41, 0xD0A): "Cortex-A75",
    (0x41, 0xD0B): "Cortex-A76", (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD0D): "Cortex-A77",
    (0x41, 0xD0E): "Cortex-A76AE", (0x41, 0xD40): "Neoverse-V1", (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD42): "Cortex-A78AE", (0x41, 0xD43): "Cortex-A65AE", (0x41, 0xD44): "Cortex-X1",
    (0x41, 0xD46): "Cortex-A510", (0x41, 0xD47): "Cortex-A710", (0x41, 0xD48): "Cortex-X2",
    (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4A): "Neoverse-E1", (0x41, 0xD4B): "Cortex-A78C",
    (0x41, 0xD4C): "Cortex-X1C", (0x41, 0xD4D): "Cortex-A715", (0x41, 0xD4E): "Cortex-X3",
    (0x41, 0xD4F): "Neoverse-V2", (0x41, 0xD80): "Cortex-A520", (0x41, 0xD81): "Cortex-A720",
    (0x41, 0xD82): "Cortex-X4", (0x41, 0xD84): "Neoverse-V3", (0x41, 0xD85): "Cortex-X925",
    (0x41, 0xD87): "Cortex-A725", (0x41, 0xD8E): "Neoverse-N3", (0x4E, 0x003): "Denver 2", (0x4E, 0x004): "Carmel",
}


class CpuInfo(NamedTuple):
    """/proc/cpuinfo: a model name and the CPU flags (x86 ``flags``, ARM ``Features``)."""

    model: str
    flags: list[str]


def parse_cpuinfo(text: str, wanted: tuple[str, ...] | None = None) -> CpuInfo:
    """The CPU model and flags of a /proc/cpuinfo dump.

    x86: ``model name`` and ``flags``. ARM: the board or SoC (``Model`` on a Raspberry Pi, else ``Hardware``, else
    ``Processor`` on old 32-bit kernels, else ``model name``) with the distinct core types decoded from
    ``CPU implementer``/``CPU part`` in brackets, e.g. ``Raspberry Pi 3 Model B Rev 1.2 (Cortex-A53)``; the flags
    are ``Features``. With `wanted` the flags are filtered to those names, in `wanted`'s order (pass the same
    tuple edgekit's environment record uses); without it every flag is returned, sorted. Raises ParseError when
    neither a model nor a flag is found.
    """
    _require_text(text, "cpuinfo")
    first: dict[str, str] = {}
    flags: set[str] = set()
    cores: list[str] = []
    implementer = None
    for raw in text.splitlines():
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in ("flags", "features"):
            flags.update(value.split())
        elif key == "cpu implementer":
            implementer = _hex(value)
        elif key == "cpu part":
            core = _core_name(implementer, _hex(value))
            if core and core not in cores:
                cores.append(core)
        elif value and key not in first and not value.isdigit():  # x86 "model : 85", "processor : 0" say nothing
            first[key] = value
    if "model name" in first and not cores and "hardware" not in first:
        model = first["model name"]  # x86
    else:
        name = next((first[key] for key in ("model", "hardware", "processor", "model name") if key in first), None)
        core_text = "/".join(cores)
        model = f"{name} ({core_text})" if name and core_text and core_text not in name else name or core_text
    if not model and not flags:
        raise ParseError(f"cpuinfo has no model name, Hardware, CPU part or flags line ({excerpt(text)})")
    chosen = [flag for flag in wanted if flag in flags] if wanted is not None else sorted(flags)
    return CpuInfo(model or "unknown", chosen)


def _hex(value: str) -> int | None:
    try:
        return int(value, 16) if len(value) <= 10 else None
    except ValueError:
        return None


def _core_name(implementer: int | None, part: int | None) -> str | None:
    if implementer is None or part is None:
        return None
    known = _ARM_PARTS.get((implementer, part))
    if known:
        return known
    vendor = _ARM_IMPLEMENTERS.get(implementer, f"implementer 0x{implementer:02x}")
    return f"{vendor} part 0x{part:03x}"
