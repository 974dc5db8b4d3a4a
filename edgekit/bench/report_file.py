"""Read a report.json for `edgekit check`: the schema this edgekit writes, and numbers that make sense."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import ValidationError

from edgekit import __version__
from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.records import REPORT_SCHEMA, Report


def load_report(path: Path) -> dict:
    """The parsed report; anything else (missing, another schema, hand-edited nonsense) is one line, exit 2."""
    where = f"report '{path}'"
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise EdgekitError(f"{where} does not exist") from exc
    except OSError as exc:
        raise EdgekitError(f"{where} cannot be read ({exc.strerror or exc})") from exc
    try:
        report = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise EdgekitError(f"{where} is not valid JSON ({first_line(exc)})") from exc
    if not isinstance(report, dict) or "schema_version" not in report:
        raise EdgekitError(f"{where} is not an edgekit report.json (no schema_version)")
    _check_version(report, where)
    try:
        Report.model_validate(report)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise EdgekitError(f"{where} is not a valid edgekit report: {key}: {err['msg']}") from exc
    problem = first_problem(report)
    if problem:
        raise EdgekitError(f"{where} is inconsistent, hand-edited or corrupt: {problem}")
    return report


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a report may contain")


def _check_version(report: dict, where: str) -> None:
    schema, written_by = report.get("schema_version"), str(report.get("edgekit_version", "?"))
    ours = __version__.split(".")[0]
    if schema != REPORT_SCHEMA or written_by.split(".")[0] != ours:
        raise EdgekitError(f"{where} was written by edgekit {written_by} (report schema {schema}); edgekit "
                           f"{__version__} reads schema {REPORT_SCHEMA}: re-run the benchmark with this version")


def first_problem(report: dict) -> str | None:
    """The first number in the report that no edgekit run can produce, or None."""
    if not report["artifacts"]:
        return "no artifacts"
    for group in ("artifacts", "baseline"):
        for index, entry in enumerate(report[group]):
            problem = _entry_problem(entry)
            if problem:
                return f"{group}[{index}] ({entry['format']}): {problem}"
    return None


def _entry_problem(entry: dict) -> str | None:
    for key in ("size_bytes", "params", "macs"):
        if entry[key] < 0:
            return f"{key} is negative ({entry[key]})"
    if entry["status"] == "ok" and entry["size_bytes"] == 0:
        return "size_bytes is 0 for a verified file"
    accuracy = entry.get("accuracy")
    if accuracy and not (0 <= accuracy["top1"] <= accuracy["top5"] <= 100 and accuracy["n"] >= 1):
        return f"accuracy top1 {accuracy['top1']} / top5 {accuracy['top5']} / n {accuracy['n']} is impossible"
    latency = entry.get("latency_ms")
    problem = _latency_problem(latency) if latency else None
    return problem or _reference_problem(entry)


def _reference_problem(entry: dict) -> str | None:
    """A `vs_reference` that no same-run comparison can produce."""
    reference = entry.get("vs_reference")
    if not reference:
        return None
    if reference["size_bytes"] <= 0:
        return f"vs_reference.size_bytes is {reference['size_bytes']}"
    latency, theirs = entry.get("latency_ms"), reference.get("latency_ms")
    if not theirs:
        return None
    problem = _latency_problem(theirs)
    if problem:
        return f"vs_reference: {problem}"
    if latency and latency.get("device", "local") != theirs.get("device", "local"):
        return (f"vs_reference was timed on {theirs.get('device')}, the file on {latency.get('device')}: not a "
                "same-run comparison")
    return None


def _latency_problem(latency: dict) -> str | None:
    p50, p90, p99 = latency["p50"], latency["p90"], latency["p99"]
    if (p90 is None) != (p99 is None) or (p90 is None and not latency.get("sample_kind")):
        return "p90/p99 may be missing only for per-round samples (sample_kind)"
    given = [v for v in (p50, p90, p99, latency["mean"]) if v is not None]
    if not all(math.isfinite(v) and v > 0 for v in given):
        return "a latency statistic is not a positive number"
    if p90 is not None and not p50 <= p90 <= p99:
        return f"latency percentiles out of order (p50 {p50}, p90 {p90}, p99 {p99})"
    if latency["runs"] < 1 or latency["threads"] < 1:
        return f"latency runs {latency['runs']} / threads {latency['threads']} must be at least 1"
    samples = latency.get("samples")
    if samples is None:
        return None
    if not isinstance(samples, list) or not all(isinstance(s, (int, float)) and s > 0 for s in samples):
        return "latency samples must be a list of positive numbers"
    if len(samples) != latency["runs"]:
        return f"{len(samples)} latency samples but runs = {latency['runs']}"
    ordered = sorted(samples)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    if abs(median - p50) > 1e-3 * p50 + 1e-3:
        return f"p50 {p50} does not match the median of its samples ({median:.4f})"
    return None
