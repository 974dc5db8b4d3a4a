"""Parse what `trtexec` prints (TensorRT 7.x to 11.x) and the per-query JSON its `--exportTimes` writes.

The formats follow NVIDIA/TensorRT `samples/common/sampleReporting.cpp` across its releases:

* 7.x: a "Host Latency" block of `min: X ms (end to end Y ms)` lines, then "Enqueue Time" and "GPU Compute"
  blocks, `throughput: X qps`, `walltime: X s`, `total compute time: X s`.
* 8.0-8.4: `=== Performance summary ===`, then `Name: min = a ms, max = b ms, mean = c ms, median = d ms,
  percentile(99%) = e ms` for Latency, End-to-End Host Latency (8.0-8.2 only), Enqueue Time, H2D Latency,
  GPU Compute Time, D2H Latency; `Total Host Walltime` and `Total GPU Compute Time`.
* 8.5+, 10.x, 11.x: the same lines with a list of percentiles (default 90, 95, 99). 11.x turns data transfers off
  by default, so its H2D/D2H are 0 and "Latency" equals GPU compute unless `--includeDataTransfers` is given.

"Latency" is H2D + GPU compute + D2H of one query, measured on the host's timeline. The old "End-to-End Host
Latency" also counts the wait behind the previous query (trtexec enqueues one ahead) and was dropped in 8.4.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers._text import finite

MAX_MESSAGE = 160  # characters of offending input quoted in a ParseError




@dataclass(frozen=True)
class Stats:
    """min/max/mean/median and percentiles (percent -> ms) of one metric, in milliseconds."""

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    median: float | None = None
    percentiles: dict[float, float] = field(default_factory=dict)


@dataclass
class TrtexecResult:
    """Everything edgekit reads from one trtexec run; fields it did not find stay None / empty."""

    version: tuple[int, int, int] | None = None
    throughput_qps: float | None = None
    latency: Stats | None = None  # H2D + compute + D2H per query ("Latency", 7.x "Host Latency")
    end_to_end: Stats | None = None  # "End-to-End Host Latency" (7.x-8.2 only)
    gpu_compute: Stats | None = None
    h2d: Stats | None = None
    d2h: Stats | None = None
    enqueue: Stats | None = None
    total_host_walltime_s: float | None = None
    total_gpu_compute_s: float | None = None
    queries: int | None = None  # "Timing trace has N queries over X s"
    data_transfers: bool | None = None  # "Data transfers: Enabled|Disabled" in the options banner
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passed: bool | None = None  # &&&& PASSED / &&&& FAILED (the last one printed)

    @property
    def has_summary(self) -> bool:
        return self.gpu_compute is not None or self.latency is not None or self.throughput_qps is not None


@dataclass
class ExportTimes:
    """Per-query samples from an --exportTimes file, in milliseconds, in the order the queries ran."""

    latency_ms: list[float]  # H2D + compute + D2H per query (latencyMs, or the sum of its parts)
    gpu_compute_ms: list[float]
    end_to_end_ms: list[float] | None = None  # endToEndMs where the file has it (7.x-8.2)
    h2d_ms: list[float] | None = None
    d2h_ms: list[float] | None = None
    field_names: str = "new"  # "new" (h2dMs/d2hMs) or "old" (inMs/outMs, 7.x and tracer.py)
    dropped_warmup: int = 0  # entries before warmup_ms that older trtexec versions still write


# ---------------------------------------------------------------------------------------------- text output

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
_PREFIX = re.compile(r"^\s*(?:\[\d{1,2}/\d{1,2}/\d{2,4}-\d{1,2}:\d{1,2}:\d{1,2}\]\s*)?(?:\[([FEWIV])\]\s?)?")
_BANNER = re.compile(r"\[TensorRT v(\d{1,9})\]")
_VERSION_LINE = re.compile(r"TensorRT version:\s*(\d{1,3})\.(\d{1,3})\.(\d{1,4})")
_RESULT = re.compile(r"&&&& (PASSED|FAILED) ")
_SUMMARY_LINE = re.compile(
    r"^(Latency|End-to-End Host Latency|Enqueue Time|H2D Latency|GPU Compute Time|D2H Latency):\s*(.*)$")
_FIELD = re.compile(rf"\b(min|max|mean|median)\s*=?\s*({_NUMBER})\s*ms", re.IGNORECASE)
_PERCENTILE = re.compile(rf"percentile\(\s*({_NUMBER})\s*%\s*\)\s*=?\s*({_NUMBER})\s*ms", re.IGNORECASE)
_SCALAR = {
    "throughput_qps": re.compile(rf"^Throughput:\s*({_NUMBER})\s*qps", re.IGNORECASE),
    "total_host_walltime_s": re.compile(rf"^Total Host Walltime:\s*({_NUMBER})\s*s\b"),
    "total_gpu_compute_s": re.compile(rf"^Total GPU Compute Time:\s*({_NUMBER})\s*s\b"),
}
_TRACE = re.compile(rf"^Timing trace has (\d{{1,12}}) queries over ({_NUMBER}) s")
_TRANSFERS = re.compile(r"^Data transfers:\s*(Enabled|Disabled)\b")
# TensorRT 7.x blocks: a header line, then "key: value ms" lines
_OLD_HEADERS = {"Host Latency": "host", "Enqueue Time": "enqueue", "GPU Compute": "gpu"}
_OLD_LINE = re.compile(
    rf"^(min|max|mean|median|percentile):\s*({_NUMBER})\s*ms"
    rf"(?:\s*at\s*({_NUMBER})\s*%)?"
    rf"(?:\s*\(end to end\s*({_NUMBER})\s*ms(?:\s*at\s*({_NUMBER})\s*%)?\))?")
_OLD_SCALAR = {
    "throughput_qps": re.compile(rf"^throughput:\s*({_NUMBER})\s*qps"),
    "total_host_walltime_s": re.compile(rf"^walltime:\s*({_NUMBER})\s*s\b"),
    "total_gpu_compute_s": re.compile(rf"^total compute time:\s*({_NUMBER})\s*s\b"),
}


def decode_version(code: int) -> tuple[int, int, int] | None:
    """NV_TENSORRT_VERSION as trtexec's banner prints it: major*1000+minor*100+patch up to 9.x (8401 = 8.4.1),
    major*10000+minor*100+patch from 10.0 on (100300 = 10.3.0); None for anything else."""
    if 100_000 <= code <= 999_999:
        return code // 10_000, code // 100 % 100, code % 100
    if 1_000 <= code <= 9_999:
        return code // 1_000, code // 100 % 10, code % 100
    return None


def _as_text(text: str | bytes | bytearray) -> str:
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise ParseError(f"trtexec output must be text, not {type(text).__name__}")
    return text


def _stats_from_summary(rest: str) -> Stats | None:
    values = {m.group(1).lower(): finite(m.group(2)) for m in _FIELD.finditer(rest)}
    percentiles = {}
    for m in _PERCENTILE.finditer(rest):
        p, v = finite(m.group(1)), finite(m.group(2))
        if p is not None and v is not None and 0 <= p <= 100:
            percentiles[p] = v
    if not values and not percentiles:
        return None
    return Stats(values.get("min"), values.get("max"), values.get("mean"), values.get("median"), percentiles)


class _OldBlocks:
    """Collects TensorRT 7.x "Host Latency" / "Enqueue Time" / "GPU Compute" blocks."""

    def __init__(self) -> None:
        self.section: str | None = None
        self.values: dict[str, dict[str, float | None]] = {}
        self.percentiles: dict[str, dict[float, float]] = {}

    def feed(self, message: str) -> bool:
        if message in _OLD_HEADERS:
            self.section = _OLD_HEADERS[message]
            return True
        m = _OLD_LINE.match(message)
        if not m or self.section is None:
            return False
        key, value, at, e2e, e2e_at = m.groups()
        targets = [(self.section, value, at)]
        if self.section == "host" and e2e is not None:
            targets.append(("e2e", e2e, e2e_at))
        for section, text, pct in targets:
            if key == "percentile":
                p, v = finite(pct), finite(text)
                if p is not None and v is not None and 0 <= p <= 100:
                    self.percentiles.setdefault(section, {})[p] = v
            else:
                self.values.setdefault(section, {})[key] = finite(text)
        return True

    def stats(self, section: str) -> Stats | None:
        values, pcts = self.values.get(section, {}), self.percentiles.get(section, {})
        if not values and not pcts:
            return None
        return Stats(values.get("min"), values.get("max"), values.get("mean"), values.get("median"), pcts)


def parse_trtexec(text: str | bytes) -> TrtexecResult:
    """Read a trtexec log (stdout, or stdout+stderr joined) into a TrtexecResult.

    Lines may carry trtexec's `[MM/DD/YYYY-HH:MM:SS] [I] ` prefix or not; bytes are decoded as UTF-8 with
    replacement. Numbers that are not finite (nan, inf, overflow) are left out as None. When several summaries are
    printed, the last one wins. Raises ParseError only when the text shows nothing of trtexec at all (no banner,
    version, summary nor PASSED/FAILED line).
    """
    result = TrtexecResult()
    old = _OldBlocks()
    banner_version = line_version = None
    seen_trtexec = False
    summary_keys = {"Latency": "latency", "End-to-End Host Latency": "end_to_end", "Enqueue Time": "enqueue",
                    "H2D Latency": "h2d", "GPU Compute Time": "gpu_compute", "D2H Latency": "d2h"}
    for raw in _as_text(text).splitlines():
        if "&&&&" in raw or "[TensorRT v" in raw:
            m = _BANNER.search(raw)
            if m:
                banner_version = decode_version(int(m.group(1))) or banner_version
                seen_trtexec = True
            m = _RESULT.search(raw)
            if m:
                result.passed = m.group(1) == "PASSED"
                seen_trtexec = True
        prefix = _PREFIX.match(raw)
        severity = prefix.group(1) if prefix else None
        message = raw[prefix.end():] if prefix else raw
        stripped = message.strip()
        if severity == "W" and stripped:
            result.warnings.append(stripped)
            continue
        if severity in ("E", "F") and stripped:
            result.errors.append(stripped)
            continue
        m = _VERSION_LINE.search(stripped)
        if m:
            line_version = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            seen_trtexec = True
            continue
        m = _SUMMARY_LINE.match(stripped)
        if m:
            stats = _stats_from_summary(m.group(2))
            if stats is not None:
                setattr(result, summary_keys[m.group(1)], stats)
                seen_trtexec = True
            continue
        if old.feed(stripped):
            seen_trtexec = True
            continue
        for name, pattern in (*_SCALAR.items(), *_OLD_SCALAR.items()):
            m = pattern.match(stripped)
            if m:
                setattr(result, name, finite(m.group(1)))
                seen_trtexec = True
                break
        else:
            m = _TRACE.match(stripped)
            if m:
                result.queries = int(m.group(1))
                continue
            m = _TRANSFERS.match(stripped)
            if m:
                result.data_transfers = m.group(1) == "Enabled"
    if result.latency is None:
        result.latency = old.stats("host")
    if result.end_to_end is None:
        result.end_to_end = old.stats("e2e")
    if result.enqueue is None:
        result.enqueue = old.stats("enqueue")
    if result.gpu_compute is None:
        result.gpu_compute = old.stats("gpu")
    result.version = line_version or banner_version
    if not seen_trtexec:
        raise ParseError("no trtexec output found (no TensorRT banner, performance summary or PASSED/FAILED line)")
    return result


# ------------------------------------------------------------------------------------------- --exportTimes

_NEW_PARTS = ("h2dMs", "computeMs", "d2hMs")
_OLD_PARTS = ("inMs", "computeMs", "outMs")


def _number(entry: dict, key: str, index: int) -> float | None:
    if key not in entry:
        return None
    value = entry[key]
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer past float range
            number = None
    if number is None or not math.isfinite(number):
        raise ParseError(f"--exportTimes entry {index}: {key} is not a finite number ({str(value)[:40]!r})")
    return number


def parse_export_times(json_text: str | bytes, warmup_ms: float | None = None) -> ExportTimes:
    """Per-query latency and GPU compute samples from an --exportTimes JSON file.

    Handles the newer field names (h2dMs, computeMs, d2hMs, latencyMs; 8.x-11.x) and the older ones (inMs, outMs,
    endToEndMs; 7.x and the trtexec tracer.py). trtexec before 8.5 writes the warm-up queries too: pass the run's
    `warmup_ms` to drop entries whose compute started before it (trtexec's own rule); newer files already start
    after the warm-up, so the filter leaves them whole. Raises ParseError on anything else.
    """
    text = json_text.decode("utf-8", errors="replace") if isinstance(json_text, (bytes, bytearray)) else json_text
    if not isinstance(text, str):
        raise ParseError(f"--exportTimes content must be text, not {type(json_text).__name__}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ParseError(f"--exportTimes file is not valid JSON ({str(exc).splitlines()[0][:MAX_MESSAGE]})") from None
    if not isinstance(data, list):
        raise ParseError(f"--exportTimes file holds a {type(data).__name__}, not a list of queries")
    latency, compute, e2e, h2d, d2h = [], [], [], [], []
    names = None
    dropped = 0
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ParseError(f"--exportTimes entry {i} is a {type(entry).__name__}, not an object")
        start = _number(entry, "startComputeMs", i)
        if warmup_ms is not None and start is not None and start < warmup_ms:
            dropped += 1
            continue
        kind = "new" if "h2dMs" in entry or "d2hMs" in entry else "old" if "inMs" in entry or "outMs" in entry else None
        parts = _NEW_PARTS if kind == "new" else _OLD_PARTS
        gpu = _number(entry, "computeMs", i)
        if gpu is None:
            raise ParseError(f"--exportTimes entry {i} has no computeMs (keys: {', '.join(sorted(entry))[:80]})")
        lat = _number(entry, "latencyMs", i)
        first, last = (_number(entry, parts[0], i), _number(entry, parts[2], i)) if kind else (None, None)
        if lat is None:
            if first is None or last is None:
                raise ParseError(f"--exportTimes entry {i} has neither latencyMs nor {parts[0]}/{parts[2]}")
            lat = first + gpu + last
        names = names or kind
        latency.append(lat)
        compute.append(gpu)
        h2d.append(first)
        d2h.append(last)
        e2e.append(_number(entry, "endToEndMs", i))
    if not latency:
        raise ParseError("--exportTimes file has no timed queries"
                         + (f" ({dropped} warm-up entries dropped)" if dropped else ""))
    return ExportTimes(
        latency_ms=latency, gpu_compute_ms=compute,
        end_to_end_ms=e2e if all(v is not None for v in e2e) else None,
        h2d_ms=h2d if all(v is not None for v in h2d) else None,
        d2h_ms=d2h if all(v is not None for v in d2h) else None,
        field_names=names or "new", dropped_warmup=dropped)
