"""Jetson telemetry: `nvpmodel -q`, `jetson_clocks --show` and tegrastats lines (public through telemetry.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers._text import excerpt, finite, whole
from edgekit.devices.parsers._text import require_text as _require_text

# ------------------------------------------------------------------------------------------------------------------
# Jetson: nvpmodel -q, jetson_clocks --show
# ------------------------------------------------------------------------------------------------------------------

_POWER_MODE = re.compile(r"NV Power Mode:\s*(\S+)(?:\s+(\d+))?\s*$")


class NvpModel(NamedTuple):
    """`nvpmodel -q`: the mode's name and its ID (IDs differ per board: MAXN_SUPER is 2 on Orin Nano Super)."""

    name: str
    id: int


def parse_nvpmodel(text: str) -> NvpModel:
    """``NV Power Mode: NAME`` then the ID on the next line (``NVPM WARN``/``NVPM VERB`` lines are skipped); the
    one-line ``NV Power Mode: NAME ID`` that a shell's $(...) makes of it is accepted too."""
    _require_text(text, "nvpmodel")
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        match = _POWER_MODE.search(line)
        if match is None:
            continue
        name, mode_id = match.group(1), match.group(2)
        if mode_id is None:
            rest = (ln for ln in lines[i + 1:] if ln and not ln.startswith("NVPM"))
            mode_id = next(rest, "")
        number = whole(mode_id) if len(mode_id) < 6 else None
        if number is None:
            raise ParseError(f"nvpmodel printed the mode '{excerpt(name, 30)}' but no mode ID after it")
        return NvpModel(name, number)
    raise ParseError(f"nvpmodel printed no 'NV Power Mode:' line ({excerpt(text)})")


@dataclass(frozen=True)
class Clock:
    """A clock's limits and current rate as jetson_clocks prints them (Hz for GPU, EMC and engines)."""

    min_hz: int
    max_hz: int
    current_hz: int

    @property
    def maxed(self) -> bool:
        return self.max_hz > 0 and self.current_hz >= self.max_hz


@dataclass(frozen=True)
class JetsonCpu:
    """One ``cpuN:`` line (frequencies in kHz, as cpufreq gives them)."""

    index: int
    online: bool
    governor: str | None
    min_khz: int | None
    max_khz: int | None
    current_khz: int | None

    @property
    def maxed(self) -> bool:
        return bool(self.max_khz) and self.current_khz is not None and self.current_khz >= self.max_khz


@dataclass(frozen=True)
class JetsonClocks:
    """`jetson_clocks --show`. `maxed` is True when every online CPU and the GPU run at their maximum frequency
    (what `sudo jetson_clocks` sets); False when the GPU line is missing, since that cannot be confirmed."""

    soc: str | None
    machine: str | None
    cpus: tuple[JetsonCpu, ...]
    gpu: Clock | None
    emc: Clock | None
    power_mode: str | None
    active_gpu_tpcs: int | None = None
    emc_freq_override: int | None = None
    fan: str | None = None
    engines: dict[str, Clock] = field(default_factory=dict)

    @property
    def maxed(self) -> bool:
        online = [cpu for cpu in self.cpus if cpu.online]
        return bool(online) and all(cpu.maxed for cpu in online) and self.gpu is not None and self.gpu.maxed


_SOC = re.compile(r"^SOC family:\s*(\S*)\s*(?:Machine:\s*(.*))?$")
_ONLINE = re.compile(r"^Online CPUs:\s*([\d,\-\s]*?)\s*(?:,\s*Offline CPUs:\s*([\d,\-\s]*))?$")
_CPU_LINE = re.compile(r"^cpu(\d{1,4}):\s*(.*)$")
_KV = re.compile(r"(\w+)=(\S+)")
_CLOCK_LINE = re.compile(r"^(GPU|EMC)\s+(MinFreq=.*)$")
_ENGINE_LINE = re.compile(r"^([A-Z][A-Z0-9_]*):\s+(Online=.*MinFreq=.*)$")


def parse_jetson_clocks(text: str) -> JetsonClocks:
    """Read `jetson_clocks --show` (L4T R32 to R39: with or without ``Online=`` on each cpu line)."""
    _require_text(text, "jetson_clocks")
    soc = machine = power_mode = fan = None
    online_list: set[int] | None = None
    offline_list: set[int] = set()
    cpus: dict[int, JetsonCpu] = {}
    clocks: dict[str, Clock] = {}
    engines: dict[str, Clock] = {}
    tpcs = override = None
    for raw in text.splitlines():
        line = raw.strip()
        if (match := _SOC.match(line)) is not None:
            soc, machine = match.group(1) or None, (match.group(2) or "").strip() or None
        elif (match := _ONLINE.match(line)) is not None:
            online_list = _cpu_list(match.group(1))
            offline_list = _cpu_list(match.group(2) or "") or set()
        elif (match := _CPU_LINE.match(line)) is not None:
            cpus[int(match.group(1))] = _jetson_cpu(int(match.group(1)), dict(_KV.findall(match.group(2))))
        elif (match := _CLOCK_LINE.match(line)) is not None:
            values = dict(_KV.findall(match.group(2)))
            clocks[match.group(1)] = _clock(values, line)
            if match.group(1) == "EMC" and "FreqOverride" in values:
                override = whole(values["FreqOverride"])
        elif (match := _ENGINE_LINE.match(line)) is not None:
            engines[match.group(1)] = _clock(dict(_KV.findall(match.group(2))), line)
        elif line.startswith("Active GPU TPCs:"):
            tpcs = whole(line.partition(":")[2].strip()[:6])
        elif line.startswith(("Fan:", "FAN ")):
            fan = line if fan is None else f"{fan}; {line}"
        elif line.startswith("NV Power Mode:"):
            power_mode = line.partition(":")[2].strip() or None
        elif line.startswith("Error:"):
            raise ParseError(f"jetson_clocks: {excerpt(line)}")
    if not cpus and "GPU" not in clocks:
        raise ParseError(f"jetson_clocks printed no cpu or GPU line ({excerpt(text)})")
    for index, cpu in list(cpus.items()):
        if cpu.online is None:  # newer releases drop Online= from the cpu lines and list them instead
            online = index in online_list if online_list else index not in offline_list
            cpus[index] = JetsonCpu(index, online, cpu.governor, cpu.min_khz, cpu.max_khz, cpu.current_khz)
    return JetsonClocks(soc=soc, machine=machine, cpus=tuple(cpus[i] for i in sorted(cpus)), gpu=clocks.get("GPU"),
                        emc=clocks.get("EMC"), power_mode=power_mode, active_gpu_tpcs=tpcs,
                        emc_freq_override=override, fan=fan, engines=engines)


def _jetson_cpu(index: int, values: dict[str, str]) -> JetsonCpu:
    online = values.get("Online")
    return JetsonCpu(index=index, online=None if online is None else online == "1",  # type: ignore[arg-type]
                     governor=values.get("Governor"), min_khz=_freq(values.get("MinFreq")),
                     max_khz=_freq(values.get("MaxFreq")), current_khz=_freq(values.get("CurrentFreq")))


def _clock(values: dict[str, str], line: str) -> Clock:
    parts = [_freq(values.get(key)) for key in ("MinFreq", "MaxFreq", "CurrentFreq")]
    if any(part is None for part in parts):
        raise ParseError(f"jetson_clocks printed an unreadable clock line ({excerpt(line)})")
    return Clock(*parts)  # type: ignore[arg-type]


def _freq(token: str | None) -> int | None:
    return whole(token) if token is not None and len(token) <= 15 else None


def _cpu_list(spec: str) -> set[int] | None:
    """"0-3,5" -> {0, 1, 2, 3, 5}; None for an empty or unreadable list."""
    cpus: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        start, stop = whole(low.strip()[:5]), whole((high or low).strip()[:5])
        if start is None or stop is None or stop < start or stop - start > 4096:
            return None
        cpus.update(range(start, stop + 1))
    return cpus or None


# ------------------------------------------------------------------------------------------------------------------
# Jetson: tegrastats
# ------------------------------------------------------------------------------------------------------------------


class PowerRail(NamedTuple):
    """One rail in milliwatts: current and average, and the third value JetPack 6.2+/R39 prints (its running
    maximum, judging by how it behaves over a series of lines) where it is printed."""

    current_mw: float
    average_mw: float
    max_mw: float | None = None


@dataclass(frozen=True)
class CpuCore:
    """One CPU in tegrastats' ``CPU [...]`` list: load in percent and frequency in MHz, or offline."""

    online: bool
    util_pct: float | None = None
    freq_mhz: float | None = None


@dataclass(frozen=True)
class TegraStats:
    """One tegrastats line. None/empty where that generation does not print the field.

    `gpu_freqs_mhz` holds one frequency per GPC on Orin/Thor (``GR3D_FREQ 0%@[305,305]``), one on older boards.
    `temperatures` are the current values; R36.4+/R39 print ``cpu@45.375C/45.812C`` whose second value (the
    running maximum, as far as its behaviour shows) goes to `temperature_max`. Sensors reading -256 °C (powered
    down on Orin) are left out.
    """

    timestamp: str | None
    ram_used_mb: float | None
    ram_total_mb: float | None
    swap_used_mb: float | None
    swap_total_mb: float | None
    cpus: tuple[CpuCore, ...]
    gpu_util_pct: float | None
    gpu_freqs_mhz: tuple[float, ...]
    emc_util_pct: float | None
    emc_freq_mhz: float | None
    temperatures: dict[str, float]
    temperature_max: dict[str, float]
    power: dict[str, PowerRail]


_DATE = re.compile(r"^(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\s+")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)([kMG])B\b")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)([kMG])B\b")
_CPUS = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?")
_CORE = re.compile(r"^(\d+(?:\.\d+)?)%(?:@(\d+))?$")
_ENGINE = {"GR3D": re.compile(r"\bGR3D_FREQ (?:(\d+)%)?(?:@(\[[\d,]*\]|\d+))?(?=\s|$)"),
           "EMC": re.compile(r"\bEMC_FREQ (?:(\d+)%)?(?:@(\[[\d,]*\]|\d+))?(?=\s|$)")}
_TEMP = re.compile(r"(?<![\w@])([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C(?:/(-?\d+(?:\.\d+)?)C)?(?=\s|$)")
_RAIL = re.compile(r"(?<!\S)([A-Z][A-Z0-9_]*) (-?\d+)(?:mW)?/(-?\d+)(?:mW)?(?:/(-?\d+)(?:mW)?)?(?=\s|$)")
_UNIT_MB = {"k": 1 / 1024, "M": 1.0, "G": 1024.0}
_POWERED_DOWN_C = -256.0


def parse_tegrastats(line: str) -> TegraStats:
    """Read one tegrastats line, any L4T release from R28 (TX1) to R39 (Thor, AGX Orin on JetPack 7).

    Power rails: ``VDD_IN 14025/14416`` (old, mW implied), ``VDD_GPU_SOC 1995mW/1995mW`` and
    ``VDD_IN 3462mW/3522mW/3582mW`` (current/average/max). Raises ParseError when the line has none of RAM,
    CPU, temperatures and rails.
    """
    _require_text(line, "tegrastats")
    text = " ".join(line.split())
    timestamp = None
    if (match := _DATE.match(text)) is not None:
        timestamp = match.group(1)
    ram = _memory(_RAM, text)
    swap = _memory(_SWAP, text)
    cpus: tuple[CpuCore, ...] = ()
    if (match := _CPUS.search(text)) is not None:
        cpus = _cores(match.group(1), match.group(2), text)
    gpu_util, gpu_freqs = _engine("GR3D", text)
    emc_util, emc_freqs = _engine("EMC", text)
    temperatures: dict[str, float] = {}
    temperature_max: dict[str, float] = {}
    for name, current, peak in _TEMP.findall(text):
        value = finite(current)
        if value is None or value <= _POWERED_DOWN_C or abs(value) > 1000:
            continue
        temperatures[name] = value
        peak_value = finite(peak) if peak else None
        if peak_value is not None and abs(peak_value) <= 1000:
            temperature_max[name] = peak_value
    power: dict[str, PowerRail] = {}
    for name, current, average, peak in _RAIL.findall(text):
        values = [finite(current), finite(average), finite(peak) if peak else None]
        if name in ("RAM", "SWAP", "IRAM") or values[0] is None or values[1] is None or (peak and values[2] is None):
            continue
        power[name] = PowerRail(*values)
    if ram is None and not cpus and not temperatures and not power:
        raise ParseError(f"tegrastats line has no RAM, CPU, temperature or power field ({excerpt(text)})")
    return TegraStats(
        timestamp=timestamp, ram_used_mb=ram[0] if ram else None, ram_total_mb=ram[1] if ram else None,
        swap_used_mb=swap[0] if swap else None, swap_total_mb=swap[1] if swap else None, cpus=cpus,
        gpu_util_pct=gpu_util, gpu_freqs_mhz=gpu_freqs, emc_util_pct=emc_util,
        emc_freq_mhz=emc_freqs[0] if emc_freqs else None, temperatures=temperatures,
        temperature_max=temperature_max, power=power)


def _memory(pattern: re.Pattern, text: str) -> tuple[float, float] | None:
    match = pattern.search(text)
    if match is None:
        return None
    used, total = finite(match.group(1)), finite(match.group(2))
    scale = _UNIT_MB[match.group(3)]
    if used is None or total is None:
        raise ParseError(f"tegrastats printed an impossible {excerpt(match.group(0), 40)}")
    if used > total:
        raise ParseError(f"tegrastats says {match.group(0)}: more in use than there is")
    return used * scale, total * scale


def _cores(body: str, shared_freq: str | None, text: str) -> tuple[CpuCore, ...]:
    """``55%@2035,off`` per core, or ``[0%,5%,off]@2601`` with one frequency for all (TX1-era and Thor)."""
    cores = []
    shared = finite(shared_freq) if shared_freq else None
    for token in (t.strip() for t in body.split(",")):
        if token == "off":
            cores.append(CpuCore(online=False))
            continue
        match = _CORE.match(token)
        if match is None:
            raise ParseError(f"tegrastats CPU list holds '{excerpt(token, 20)}' ({excerpt(text)})")
        util = finite(match.group(1))
        if util is None or util > 100.0:
            raise ParseError(f"tegrastats CPU load {excerpt(token, 20)} is over 100% ({excerpt(text)})")
        freq = finite(match.group(2)) if match.group(2) else shared
        cores.append(CpuCore(online=True, util_pct=util, freq_mhz=freq))
    return tuple(cores)


def _engine(name: str, text: str) -> tuple[float | None, tuple[float, ...]]:
    match = _ENGINE[name].search(text)
    if match is None:
        return None, ()
    util = finite(match.group(1)) if match.group(1) else None
    if util is not None and util > 100.0:
        raise ParseError(f"tegrastats {name} load {util:g}% is over 100% ({excerpt(text)})")
    spec = (match.group(2) or "").strip("[]")
    freqs = tuple(value for value in (finite(part) for part in spec.split(",") if part.isdigit()) if value is not None)
    return util, freqs
