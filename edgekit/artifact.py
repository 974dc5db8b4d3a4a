"""Report records (artifacts, stages) and the run directory they live in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

REPORT_SCHEMA = 1


class Parity(BaseModel):
    model_config = ConfigDict(extra="allow")
    max_abs_diff: float | None
    top1_agreement: float
    n: int
    passed: bool


class Latency(BaseModel):
    model_config = ConfigDict(extra="allow")
    p50: float
    p90: float
    p99: float
    mean: float
    runs: int
    threads: int
    device: str


class Accuracy(BaseModel):
    top1: float
    top5: float
    n: int
    dataset: str


class ArtifactRecord(BaseModel):
    """One deployable file and everything measured about it."""

    model_config = ConfigDict(extra="allow")
    format: str
    path: str
    size_bytes: int
    sha256: str
    precision: Literal["fp32", "int8"]
    params: int
    macs: int
    status: Literal["ok", "failed"]
    parity: Parity | None = None
    latency_ms: Latency | None = None
    accuracy: Accuracy | None = None
    load_ms: float | None = None
    runtime: str
    runtime_versions: dict[str, str] = {}
    op_counts: dict[str, int] = {}
    fallback_ops: list[str] = []
    notes: list[str] = []
    error: str | None = None


class StageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    seconds: float
    metrics: dict = {}


class Report(BaseModel):
    """report.json of a run directory."""

    model_config = ConfigDict(extra="allow")
    schema_version: int = REPORT_SCHEMA
    model: str
    timm_id: str
    edgekit_version: str
    img_size: int
    num_classes: int
    data: str
    env: dict
    recipe: dict
    stages: list[StageRecord]
    baseline: list[ArtifactRecord]
    artifacts: list[ArtifactRecord]
    accuracy_pytorch: Accuracy | None = None
    ok: bool


class RunDirectory:
    """A run directory built in a hidden staging folder and swapped into place at the end.

    A failure leaves an earlier run at the same path untouched.
    """

    def __init__(self, final: Path, overwrite: bool):
        self.final = Path(final)
        self.overwrite = overwrite
        self.staging = self.final.parent / f".{self.final.name}.partial-{os.getpid()}"

    def __enter__(self) -> "RunDirectory":
        self.final.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        return self

    def path(self, *parts: str) -> Path:
        target = self.staging.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def subdir(self, name: str) -> Path:
        target = self.staging / name
        target.mkdir(parents=True, exist_ok=True)
        return target

    def commit(self) -> Path:
        """Move the finished staging folder to its final path (replacing an old run if allowed)."""
        old = None
        if self.final.exists():
            if not self.overwrite:
                raise FileExistsError(self.final)
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
            os.replace(self.final, old)
        os.replace(self.staging, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
