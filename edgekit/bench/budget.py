"""Budget files: YAML limits on size, complexity, latency and accuracy, per model/format/precision/device.

    alpha: 0.002              # optional: chance that a check run fails CI without a real violation
    budgets:
      - name: lite0 int8 on CPU   # optional label for the tables
        match: {model: effnet_lite0, format: onnx, precision: int8, device: local}   # any subset; globs
        max_size_mb: 5            # MB = 10^6 bytes
        max_latency_p50_ms: 12
        max_latency_ratio: 0.5    # candidate p50 / baseline p50, measured in the same run
        min_top1: 88.0            # percent
        max_top1_drop: 1.0        # points vs the FP32 baseline
        max_latency_ratio_vs_reference: 1.1   # candidate p50 / reference p50 (an earlier run's file), same run
        max_size_growth: 1.05                 # candidate size / reference size
        max_top1_drop_vs_reference: 0.5       # points below the reference's top-1
"""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgekit.core.errors import EdgekitError
from edgekit.core.io import read_yaml

#: limit key -> (what it bounds, unit); the one table the gate, the docs and the error messages read
LIMITS: dict[str, tuple[str, str]] = {
    "max_size_mb": ("file size", "MB"),
    "max_params": ("parameters", ""),
    "max_macs": ("multiply-accumulates per image", ""),
    "max_latency_p50_ms": ("median latency", "ms"),
    "max_latency_p90_ms": ("90th-percentile latency", "ms"),
    "max_latency_ratio": ("candidate p50 / baseline p50", ""),
    "min_top1": ("top-1 accuracy", "%"),
    "max_top1_drop": ("top-1 drop vs the FP32 baseline", "points"),
    "max_latency_ratio_vs_reference": ("candidate p50 / reference p50, timed interleaved in the same run", ""),
    "max_size_growth": ("candidate size / reference size", ""),
    "max_top1_drop_vs_reference": ("top-1 drop vs the reference", "points"),
}
LATENCY_LIMITS = ("max_latency_p50_ms", "max_latency_p90_ms", "max_latency_ratio", "max_latency_ratio_vs_reference")
#: limits decided against a reference (compress --reference RUN_DIR, bench --baseline FILE)
REFERENCE_LIMITS = ("max_latency_ratio_vs_reference", "max_size_growth", "max_top1_drop_vs_reference")
ACCURACY_LIMITS = ("min_top1", "max_top1_drop", "max_top1_drop_vs_reference")
DEFAULT_ALPHA = 0.002


class Match(BaseModel):
    """Which artifacts a budget applies to: fnmatch globs (`effnet_*`, `onnx`, `*`); absent keys match all."""

    model_config = ConfigDict(extra="forbid")
    model: Optional[str] = None
    format: Optional[str] = None
    precision: Optional[str] = None
    device: Optional[str] = None

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"must be a name or glob, not {type(value).__name__} {value!r}")
        return value

    def matches(self, fields: dict[str, str]) -> bool:
        return all(pattern is None or fnmatchcase(str(fields.get(key, "")), pattern)
                   for key, pattern in self.model_dump().items())

    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.model_dump().items() if v is not None]
        return " ".join(parts) or "every artifact"


def _plain_number(value: Any, unit: str) -> Any:
    """Numbers pass; so do numeric strings (YAML reads `1e6` as text); units ('5MB'), booleans and the rest fail."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a plain number{f' in {unit}' if unit else ''} (got {value!r})")
    return value


class Budget(BaseModel):
    """One budget entry: a match and at least one limit."""

    model_config = ConfigDict(extra="forbid")
    name: Optional[str] = None
    match: Match = Field(default_factory=Match)
    max_size_mb: Optional[float] = Field(None, gt=0)
    max_params: Optional[int] = Field(None, gt=0)
    max_macs: Optional[int] = Field(None, gt=0)
    max_latency_p50_ms: Optional[float] = Field(None, gt=0)
    max_latency_p90_ms: Optional[float] = Field(None, gt=0)
    max_latency_ratio: Optional[float] = Field(None, gt=0)
    min_top1: Optional[float] = Field(None, ge=0, le=100)
    max_top1_drop: Optional[float] = Field(None, ge=0, le=100)
    max_latency_ratio_vs_reference: Optional[float] = Field(None, gt=0)
    max_size_growth: Optional[float] = Field(None, gt=0)
    max_top1_drop_vs_reference: Optional[float] = Field(None, ge=0, le=100)

    @field_validator(*LIMITS, mode="before")
    @classmethod
    def _number(cls, value: Any, info) -> Any:
        return value if value is None else _plain_number(value, LIMITS[info.field_name][1])

    def limits(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in LIMITS if getattr(self, key) is not None}

    def label(self, index: int) -> str:
        return self.name or f"#{index + 1} {self.match.label()}"


class BudgetFile(BaseModel):
    """A budget YAML file: `budgets:` (a non-empty list) and an optional family-wise `alpha`."""

    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(DEFAULT_ALPHA, gt=0, lt=0.5)
    budgets: list[Budget] = Field(min_length=1)

    @field_validator("alpha", mode="before")
    @classmethod
    def _alpha_number(cls, value: Any) -> Any:
        return _plain_number(value, "")


_KNOWN_KEYS = {"alpha", "budgets", *Budget.model_fields, *Match.model_fields}


def load_budgets(path: Path, flag: str = "--budget") -> BudgetFile:
    """Read and validate a budget file; any problem is one line (exit code 2)."""
    where = f"{flag} '{path}'"
    loaded = read_yaml(path, where)
    if not isinstance(loaded, dict) or "budgets" not in loaded:
        raise EdgekitError(f"{where} must be a mapping with a 'budgets:' list (see `edgekit check --help`)")
    try:
        budgets = BudgetFile.model_validate(loaded)
    except ValidationError as exc:
        raise EdgekitError(f"{where}: {describe_error(exc)}") from exc
    for index, budget in enumerate(budgets.budgets):
        if not budget.limits():
            raise EdgekitError(f"{where}: budget {budget.label(index)} sets no limit (use any of {', '.join(LIMITS)})")
    return budgets


def describe_error(exc: ValidationError) -> str:
    """The first validation error as one line, with a did-you-mean for unknown keys."""
    err = exc.errors()[0]
    loc = err["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, sorted(_KNOWN_KEYS), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known limits: {', '.join(LIMITS)})"
        return f"unknown key '{key}' at {where}{hint}"
    message = err["msg"].removeprefix("Value error, ")
    unit = LIMITS.get(str(loc[-1]), (None, None))[1]
    suffix = f" ({unit})" if unit and "plain number" not in message else ""
    got = "" if "got" in message else f" (got {err.get('input')!r})"
    return f"{where}{suffix}: {message}{got}"


def artifact_fields(report: dict, artifact: dict) -> dict[str, str]:
    """The values a `match:` is compared with for one artifact of a report (`edgekit bench` gives each file its own
    model)."""
    latency = artifact.get("latency_ms") or {}
    return {"model": artifact.get("model") or report.get("model", ""), "format": artifact.get("format", ""),
            "precision": artifact.get("precision", ""), "device": latency.get("device", "local")}
