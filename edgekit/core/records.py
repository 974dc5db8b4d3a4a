"""Typed records: what the per-file stages produce (exported file, verification, timing) and report.json itself.

The export, verify and bench stages each return their own record; the pipeline joins one of each into an
`ArtifactRecord` per file, so no stage edits another's output.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_SCHEMA = 1


class Record(BaseModel):
    """A record of the report: unknown keys are refused when edgekit builds one."""

    model_config = ConfigDict(extra="forbid")


class Parity(Record):
    max_abs_diff: float | None
    mean_abs_diff: float | None = None
    top1_agreement: float
    n: int
    tolerance: float | None = None
    passed: bool
    error: str | None = None


class Fidelity(Record):
    """A file's top-1 agreement with its PyTorch reference over the whole validation pass that gives its accuracy."""

    n: int
    agreement: float  # % of images whose top-1 class matches PyTorch's
    disagreements: int
    near_ties: int  # disagreements where PyTorch's own margin between the two classes is within tie_tolerance
    tie_tolerance: float
    min_agreement: float  # % required, near-ties counted as agreeing
    passed: bool


class Latency(Record):
    p50: float
    p90: float | None  # None where the device's tool gives no per-run samples (see unavailable)
    p99: float | None
    mean: float
    std: float = 0.0
    min: float | None = None
    runs: int
    warmup: int = 0
    threads: int
    device: str = "local"
    cpu_util: float | None = None
    samples: list[float] = []
    cpus: list[int] | None = None
    interleaved_with: str | None = None
    sample_kind: str | None = None  # absent: per-run samples; else what one sample is (e.g. a round's median)
    unavailable: list[str] = []
    notes: list[str] = []
    throttled: bool = False  # the device stayed hotter than its max_celsius: latency verdicts are inconclusive


class Accuracy(BaseModel):
    model_config = ConfigDict(extra="allow")  # e.g. a note on the normalisation assumed
    top1: float
    top5: float
    n: int
    dataset: str


class FileFacts(Record):
    """What an exporter learnt about the file it wrote: identity, size, the model in it, what runs where."""

    format: str
    size_bytes: int
    sha256: str
    precision: Literal["fp32", "int8"]
    params: int
    macs: int
    runtime: str
    op_counts: dict[str, int] = {}
    fallback_ops: list[str] = []
    notes: list[str] = []
    export_seconds: float | None = None


class ExportedFile(FileFacts):
    """The export stage's output: the file in its stage's output folder."""

    file: str  # name inside the stage's output folder


class Verification(Record):
    """The verify stage's output: the file against PyTorch in its own runtime, and its accuracy there."""

    status: Literal["ok", "failed"]
    error: str | None = None
    parity: Parity | None = None
    accuracy: Accuracy | None = None
    fidelity: Fidelity | None = None
    runtime_versions: dict[str, str] = {}
    int8_census: dict | None = None


class Timing(Record):
    """One file's latency and cold start, as measured by the bench stage."""

    latency_ms: Latency
    load_ms: float | None
    cold_start: dict
    device_accuracy: dict | None = None  # top-1 through the file on a remote device, parity with this host


class BenchResult(Record):
    """The bench stage's output: the file's timing, and its FP32 baseline's and the reference run's file's when they
    ran interleaved with it."""

    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    candidate: Timing | None = None
    baseline: Timing | None = None
    reference: Timing | None = None
    device_env: dict | None = None  # the remote device's environment (this host's is the report's env)


class ReferenceFile(Record):
    """The reference stage's output: one shipped file of an earlier run directory (compress --reference RUN_DIR),
    checked against that run's report.json; its facts and top-1 are that report's."""

    run: str  # the reference run directory, as given
    path: str  # inside the run directory
    format: str
    sha256: str
    size_bytes: int
    precision: str
    model: str
    accuracy: Accuracy | None = None


class ReferenceComparison(Record):
    """An artifact's `vs_reference`: the file it was compared with (an earlier run's file of the same format, or
    bench's --baseline), timed interleaved with it in this run on the same device."""

    run: str | None = None  # the reference run directory; None for `edgekit bench --baseline FILE`
    path: str
    sha256: str
    size_bytes: int
    precision: str | None = None
    model: str | None = None
    size_growth: float  # this file's size / the reference's
    latency_ms: Latency | None = None  # the reference's, with its samples (the gate's ratio test reads them)
    ratio: float | None = None  # p50 / the reference's p50
    ratio_ci: list[float] | None = None  # bootstrap 95% interval of that ratio
    accuracy: Accuracy | None = None  # the reference's top-1 (from its report, or measured by bench --data)
    top1_drop: float | None = None  # points: the reference's top-1 - this file's, when both are on the same data
    note: str | None = None  # why top1_drop is missing


class ArtifactRecord(FileFacts):
    """One deployable file and everything measured about it (report.json `artifacts` and `baseline`)."""

    path: str
    status: Literal["ok", "failed"]
    parity: Parity | None = None
    latency_ms: Latency | None = None
    accuracy: Accuracy | None = None
    fidelity: Fidelity | None = None
    load_ms: float | None = None
    cold_start: dict | None = None
    runtime_versions: dict[str, str] = {}
    error: str | None = None
    int8_census: dict | None = None
    vs_fp32: dict | None = None
    vs_reference: ReferenceComparison | None = None
    device_accuracy: dict | None = None


class StageRecord(Record):
    """One step of the run: how long it took, whether it came from the cache, what it measured."""

    name: str
    seconds: float
    metrics: dict = {}
    target: str | None = None  # the format of a per-file step
    role: Literal["artifact", "baseline"] | None = None
    cached: bool = False
    key: str | None = None


class Report(BaseModel):
    """report.json of a run directory."""

    model_config = ConfigDict(extra="allow")  # command, plots, gate, timings, … are added by the pipeline
    schema_version: int = REPORT_SCHEMA
    model: str
    timm_id: str | None  # None for a plugin's model: `source` names the module that registered it
    source: str = "timm"
    edgekit_version: str
    img_size: int
    num_classes: int
    data: str
    env: dict
    recipe: dict
    training_recipe: dict = Field(default_factory=dict)  # the family training recipe applied and what it set
    stages: list[StageRecord]
    baseline: list[ArtifactRecord]
    artifacts: list[ArtifactRecord]
    accuracy_pytorch: Accuracy | None = None
    ok: bool
    cache: dict = Field(default_factory=dict)  # hits and misses of this run
