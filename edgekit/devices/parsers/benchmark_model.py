"""TFLite / LiteRT `benchmark_model`: every generation of its output, read into milliseconds.

The tool times a warm-up phase and a timed phase, each announced by a "Running benchmark for at least N
iterations ..." line and summed up by one stats line (µs) from tsl's `Stat` / `StatWithPercentiles`:

    count=N first=F curr=C min=m max=M avg=A std=S [p5=.. median=.. p95=..]
    count=N curr=C(all same) [p5=.. median=.. p95=..]        (every run took the same time; no "(all same)" if N=1)
    count=0                                                   (the phase ran no iteration)

then "Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..", memory
lines and, in the oldest releases, only "Average inference timings in us: Warmup: .., Init: .., Inference: ..".
Lines may carry "INFO: "/"WARN: "/"ERROR: " prefixes, logcat prefixes (threadtime and brief) or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers._text import NUMBER, excerpt, finite, one_line, require_text, whole

TOOL = "benchmark_model"

# --- line prefixes -----------------------------------------------------------------------------------------------
_LOGCAT_THREADTIME = re.compile(
    r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+([VDIWEFS])\s+[^:]{0,64}?:\s?")
_LOGCAT_STUDIO = re.compile(  # Android Studio's logcat: date time pid-tid tag package level
    r"^\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+-\d+\s+\S{1,64}\s+\S{1,128}\s+([VDIWEFA])\s+")
_LOGCAT_BRIEF = re.compile(r"^(?:\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+)?([VDIWEFS])/[^(:]{0,64}\(\s*\d+\):\s?")
_DOCS_ELLIPSIS = re.compile(r"^\.\.\.\s+\w+\s*:\s")
_TF_GLOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) [^\s:]+:\d+\]\s")
_GLOG = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^\s:]+:\d+\]\s")
_LEVEL = re.compile(r"^(INFO|WARN|WARNING|ERROR|FATAL|VERBOSE|DEBUG):\s?")
_LETTER_LEVEL = {"V": "VERBOSE", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL", "S": "ERROR",
                 "A": "FATAL"}

# --- messages -------------------------------------------------------------------------------------------------------
_RUNNING = re.compile(
    rf"^Running benchmark for (?:at least |max )?(\d+) iterations?"
    rf"(?: and at least ({NUMBER}) seconds)?(?: but terminate if exceeding ({NUMBER}) seconds)?")
_STATS = re.compile(r"^count=(\S*)(.*)$")
_PAIR = re.compile(rf"\b(first|curr|min|max|avg|std|p5|median|p95)=({NUMBER})")
_TIMINGS = re.compile(r"Inference timings in us:")
_AVERAGE = re.compile(r"Average inference timings in us:")
_FIELD = {
    "init": re.compile(rf"\bInit: ({NUMBER})"),
    "first": re.compile(rf"First inference: ({NUMBER})"),
    "warmup": re.compile(rf"Warmup \(avg\): ({NUMBER})"),
    "inference": re.compile(rf"Inference \(avg\): ({NUMBER})"),
    "old_warmup": re.compile(rf"\bWarmup: ({NUMBER})"),
    "old_inference": re.compile(rf"(?:\bInference|no stats): ({NUMBER})"),
}
_MEMORY = re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init=({NUMBER}) overall=({NUMBER})")
_PEAK = re.compile(rf"peak memory footprint \(MB\) via periodic monitoring: ({NUMBER})", re.IGNORECASE)
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\): ({NUMBER})")
_SESSION = re.compile(rf"Initialized session in ({NUMBER})\s*ms")
_DELEGATE_NOTES = re.compile(
    r"Following operations are not supported by|Operation is not supported|Created \d+ GPU delegate kernels"
    r"|Replacing \d+ out of \d+ node\(s\) with delegate|Failed to apply .{0,40}delegate"
    r"|delegate, and the model graph will be (?:completely|partially) executed by the delegate"
    r"|delegate is explicitly applied, the model graph will not be executed|Disallowed CPU fallback detected")

#: statistics benchmark_model never prints, whatever its version
_NEVER = ("per-run samples", "p90", "p99")


@dataclass(frozen=True)
class RunPlan:
    """What a "Running benchmark for at least N iterations ..." line announced (None where it was not printed)."""

    min_runs: int
    min_secs: float | None
    max_secs: float | None


@dataclass(frozen=True)
class PhaseStats:
    """One phase's stats line, in milliseconds. None where this generation of the tool does not print it.

    `count=N curr=C(all same)` means every run took C, so first/min/max/avg equal C and std is 0. The
    percentiles are the tool's own: the value at index floor(count·p/100) of the sorted runs (median is
    the upper median for an even count).
    """

    count: int
    first_ms: float | None = None
    curr_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    avg_ms: float | None = None
    std_ms: float | None = None
    p5_ms: float | None = None
    median_ms: float | None = None
    p95_ms: float | None = None
    all_same: bool = False
    plan: RunPlan | None = None

    @property
    def has_percentiles(self) -> bool:
        return self.median_ms is not None


@dataclass(frozen=True)
class BenchmarkModelOutput:
    """What one benchmark_model run printed, in milliseconds and megabytes.

    `timed` is None only for the oldest one-line format, which gives the average alone (`inference_avg_ms`).
    `unavailable` names the statistics this output cannot give; report them as missing, do not estimate them.
    """

    #: "average-line" (oldest) | "summary-line" (the timings line alone) | "stats" (TF era, no percentiles)
    #: | "stats+percentiles" (LiteRT)
    generation: str
    init_ms: float | None
    first_ms: float | None
    warmup: PhaseStats | None
    timed: PhaseStats | None
    warmup_avg_ms: float | None
    inference_avg_ms: float
    init_footprint_mb: float | None
    overall_footprint_mb: float | None
    peak_memory_mb: float | None
    model_size_mb: float | None
    delegate_notes: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def unavailable(self) -> tuple[str, ...]:
        missing = list(_NEVER)
        timed = self.timed
        if timed is None:
            missing += ["count", "min", "max", "std", "p5", "median", "p95"]
        elif not timed.has_percentiles:
            missing += ["p5", "median", "p95"]
        if self.warmup is None:
            missing.append("warm-up statistics")
        if self.first_ms is None:
            missing.append("first inference")
        if self.init_ms is None:
            missing.append("init time")
        if self.overall_footprint_mb is None:
            missing.append("memory footprint")
        if self.peak_memory_mb is None:
            missing.append("peak memory")
        if self.model_size_mb is None:
            missing.append("model file size")
        return tuple(missing)


def parse_benchmark_model(text: str) -> BenchmarkModelOutput:
    """Read benchmark_model's output (stdout and stderr together, or a logcat dump).

    Raises ParseError when no timing is found, when the timed phase is cut off or empty, and when a number is
    nan/inf/negative or the stats contradict each other (min > max, the summary's average differs from the
    timed phase's).
    """
    require_text(text, TOOL)
    state = _State()
    for raw in text.splitlines():
        level, line = _strip_prefix(raw)
        if line:
            state.read(level, line)
    return state.result(text)


def _strip_prefix(raw: str) -> tuple[str, str]:
    """(level, message) of one output line: logcat, glog or "INFO: " style prefixes removed."""
    line = raw.strip()
    level = ""
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_STUDIO, _LOGCAT_BRIEF, _TF_GLOG, _GLOG):
        match = pattern.match(line)
        if match:
            level, line = _LETTER_LEVEL.get(match.group(1), ""), line[match.end():]
            break
    else:
        match = _DOCS_ELLIPSIS.match(line)
        if match:
            line = line[match.end():]
    match = _LEVEL.match(line)
    if match:
        level, line = match.group(1).replace("WARNING", "WARN"), line[match.end():]
    return level, line.strip()


class _State:
    """Accumulates what the lines say, then checks it into a BenchmarkModelOutput."""

    def __init__(self):
        self.phases: list[list] = []  # [RunPlan | None, PhaseStats | None]
        self.saw_running = False
        self.summary: dict[str, float | None] | None = None
        self.average: dict[str, float | None] | None = None
        self.init_mb = self.overall_mb = self.peak_mb = self.size_mb = self.session_ms = None
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def read(self, level: str, line: str) -> None:
        if level in ("ERROR", "FATAL"):
            self.errors.append(line)
        elif level == "WARN":
            self.warnings.append(line)
        if _DELEGATE_NOTES.search(line) and line not in self.notes:
            self.notes.append(line)
        match = _RUNNING.match(line)
        if match:
            self.saw_running = True
            runs = whole(match.group(1))
            if runs is None:
                raise ParseError(f"{TOOL} printed an unreadable iteration count ({excerpt(line)})")
            plan = RunPlan(runs, _opt_number(match.group(2), line), _opt_number(match.group(3), line))
            self.phases.append([plan, None])
            return
        match = _STATS.match(line)
        if match:
            stats = _stats(match.group(1), match.group(2), line)
            if self.phases and self.phases[-1][1] is None:
                self.phases[-1][1] = stats
            elif not self.saw_running:
                self.phases.append([None, stats])
            return
        if _TIMINGS.search(line) and not _AVERAGE.search(line):
            self.summary = {key: _field(key, line) for key in ("init", "first", "warmup", "inference")}
            return
        if _AVERAGE.search(line):
            self.average = {"warmup": _field("old_warmup", line), "init": _field("init", line),
                            "inference": _field("old_inference", line)}
            return
        self._memory(line)

    def _memory(self, line: str) -> None:
        match = _MEMORY.search(line)
        if match:
            self.init_mb, self.overall_mb = (_number(match.group(i), line, negative=True) for i in (1, 2))
            return
        match = _PEAK.search(line)
        if match:
            self.peak_mb = _number(match.group(1), line)
            return
        match = _MODEL_SIZE.search(line)
        if match:
            self.size_mb = _number(match.group(1), line)
            return
        match = _SESSION.search(line)
        if match:
            self.session_ms = _number(match.group(1), line)

    def result(self, text: str) -> BenchmarkModelOutput:
        warmup, timed = self._phases(text)
        summary, average = self.summary, self.average
        if timed is None and summary is None and average is None:
            raise ParseError(f"{TOOL} printed no timing line ({self._why(text)})")
        init_us = first_us = warmup_avg_us = inference_avg_us = None
        if average is not None:
            init_us, warmup_avg_us, inference_avg_us = average["init"], average["warmup"], average["inference"]
        if summary is not None:
            init_us, first_us = summary["init"], summary["first"]
            warmup_avg_us, inference_avg_us = summary["warmup"], summary["inference"]
        if timed is not None:
            inference_avg_us = self._agree("Inference (avg)", inference_avg_us, timed.avg_ms)
        if warmup is not None and warmup.count > 0:
            warmup_avg_us = self._agree("Warmup (avg)", warmup_avg_us, warmup.avg_ms)
            first_us = self._agree("First inference", first_us, warmup.first_ms)
        if inference_avg_us is None:
            raise ParseError(f"{TOOL} printed no inference average ({excerpt(text)})")
        init_ms = _ms(init_us) if init_us is not None else self.session_ms
        return BenchmarkModelOutput(
            generation=self._generation(timed), init_ms=init_ms, first_ms=_ms(first_us), warmup=warmup, timed=timed,
            warmup_avg_ms=_ms(warmup_avg_us), inference_avg_ms=_ms(inference_avg_us),
            init_footprint_mb=self.init_mb, overall_footprint_mb=self.overall_mb, peak_memory_mb=self.peak_mb,
            model_size_mb=self.size_mb, delegate_notes=tuple(self.notes), warnings=tuple(self.warnings))

    def _phases(self, text: str) -> tuple[PhaseStats | None, PhaseStats | None]:
        phases = self.phases
        if not phases:
            return None, None
        if len(phases) > 2:
            raise ParseError(f"{TOOL} printed {len(phases)} benchmark phases where one run prints a warm-up and "
                             f"a timed phase; parse one run at a time ({excerpt(text)})")
        for plan, stats in phases:
            if stats is None:
                raise ParseError(f"{TOOL} output stops before the stats line of a phase ({self._why(text)})")
        if len(phases) == 1:
            raise ParseError(f"{TOOL} printed only one benchmark phase; the timed phase is missing "
                             f"({self._why(text)})")
        (warm_plan, warmup), (timed_plan, timed) = phases
        if timed.count == 0:
            raise ParseError(f"{TOOL} ran no timed iteration (count=0); raise --num_runs or --min_secs")
        return _with_plan(warmup, warm_plan), _with_plan(timed, timed_plan)

    def _agree(self, name: str, summary_us: float | None, stats_ms: float | None) -> float | None:
        """The summary line's value (µs), checked against the phase's stats line; stats win where they exist."""
        if stats_ms is None:
            return summary_us
        stats_us = stats_ms * 1000.0
        if summary_us is not None and abs(summary_us - stats_us) > 1e-5 * max(abs(stats_us), 1.0) + 0.5:
            raise ParseError(f"{TOOL} summary says {name} {summary_us:g} µs but the stats line says "
                             f"{stats_us:g} µs; the output is garbled")
        return stats_us

    def _generation(self, timed: PhaseStats | None) -> str:
        if timed is None:
            return "average-line" if self.summary is None else "summary-line"
        return "stats+percentiles" if timed.has_percentiles else "stats"

    def _why(self, text: str) -> str:
        return f"its error: {excerpt(self.errors[0])}" if self.errors else excerpt(text)


def _with_plan(stats: PhaseStats, plan: RunPlan | None) -> PhaseStats:
    if plan is None:
        return stats
    return PhaseStats(**{f.name: getattr(stats, f.name) for f in fields(PhaseStats) if f.name != "plan"}, plan=plan)


def _stats(count_token: str, rest: str, line: str) -> PhaseStats:
    """One stats line (µs) as PhaseStats (ms), checked for consistency."""
    digits = re.match(r"\d+", count_token)
    count = whole(digits.group(0)) if digits else None
    if count is None or (digits.end() != len(count_token) and not count_token[digits.end():].startswith("(")):
        raise ParseError(f"{TOOL} printed an unreadable stats line ({excerpt(line)})")
    values: dict[str, float] = {}
    for key, token in _PAIR.findall(rest):
        values[key] = _number(token, line)
    if count == 0:
        return PhaseStats(count=0)
    all_same = "(all same)" in rest or ("first" not in values and "min" not in values)
    if all_same:
        if "curr" not in values:
            raise ParseError(f"{TOOL} printed a stats line without its values ({excerpt(line)})")
        same = values["curr"]
        values = {"first": same, "min": same, "max": same, "avg": same, "std": 0.0, **values}
    missing = [key for key in ("first", "curr", "min", "max", "avg", "std") if key not in values]
    if missing:
        raise ParseError(f"{TOOL} stats line lacks {', '.join(missing)} ({excerpt(line)})")
    _check_order(values, line)
    ms = {key: round(value / 1000.0, 9) for key, value in values.items()}
    return PhaseStats(count=count, first_ms=ms["first"], curr_ms=ms["curr"], min_ms=ms["min"], max_ms=ms["max"],
                      avg_ms=ms["avg"], std_ms=ms["std"], p5_ms=ms.get("p5"), median_ms=ms.get("median"),
                      p95_ms=ms.get("p95"), all_same=all_same and "(all same)" in rest)


def _check_order(values: dict[str, float], line: str) -> None:
    """min <= every value <= max (avg is printed with 6 significant digits, so it may round just past them)."""
    low, high = values["min"], values["max"]
    slack = 1e-5 * max(abs(high), 1.0) + 0.5
    if low > high:
        raise ParseError(f"{TOOL} stats line has min > max ({excerpt(line)})")
    for key in ("first", "curr", "avg", "p5", "median", "p95"):
        if key in values and not low - slack <= values[key] <= high + slack:
            raise ParseError(f"{TOOL} stats line has {key} outside [min, max] ({excerpt(line)})")
    percentiles = [values[key] for key in ("p5", "median", "p95") if key in values]
    if percentiles != sorted(percentiles):
        raise ParseError(f"{TOOL} stats line has percentiles out of order ({excerpt(line)})")


def _field(key: str, line: str) -> float | None:
    match = _FIELD[key].search(line)
    if match is None:
        return None
    token = match.group(1)
    # "Warmup (avg): nan" is what the tool prints when the warm-up ran no iteration; the caller checks the phase
    if key == "warmup" and token.lstrip("+-").lower() == "nan":
        return None
    return _number(token, line)


def _number(token: str, line: str, negative: bool = False) -> float:
    value = finite(token)
    if value is None or (value < 0 and not negative):
        raise ParseError(f"{TOOL} printed an impossible value '{token}' ({excerpt(one_line(line))})")
    return value


def _opt_number(token: str | None, line: str) -> float | None:
    return None if token is None else _number(token, line, negative=True)


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 9)
