"""Report records (artifacts, stages) and the run directory they live in."""

from __future__ import annotations

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
