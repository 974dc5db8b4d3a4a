"""A reference to compare with: an earlier run directory (e.g. main's CI artifact) and the comparison record.

`load_reference_run` refuses, in one line, anything that is not a run directory whose report.json is valid and lists
the files it holds; `ReferenceRun.check` refuses a listed file that is missing or whose bytes no longer match the
report's sha256. `comparison` is an artifact's `vs_reference`: size growth, the latency ratio with its bootstrap CI
(both files timed interleaved in this run) and the top-1 difference when both were measured on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.bench.report_file import load_report
from edgekit.bench.stats import ratio_with_ci
from edgekit.core.errors import EdgekitError
from edgekit.core.io import sha256_file

FLAG = "--reference"


@dataclass
class ReferenceRun:
    """A validated earlier run directory: its report and, per format, the verified file it shipped."""

    directory: Path
    report: dict
    _hashes: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{FLAG} '{self.directory}'"

    def files(self) -> dict[str, dict]:
        """format -> the report entry of the shipped (verified) file of that format."""
        return {a["format"]: a for a in self.report["artifacts"] if a["status"] == "ok" and a["path"]}

    def path(self, fmt: str) -> Path:
        return self.directory / self.files()[fmt]["path"]

    def sha256(self, fmt: str) -> str:
        """The sha256 of the file's bytes on disk (hashed once)."""
        if fmt not in self._hashes:
            self._hashes[fmt] = sha256_file(self.path(fmt))
        return self._hashes[fmt]

    def check(self, fmt: str) -> None:
        """The file of `fmt` exists and is the one the report lists (same sha256); else one line, exit 2."""
        entry, path = self.files()[fmt], self.path(fmt)
        if not path.is_file():
            raise EdgekitError(f"{self.where}: its .{fmt} file '{entry['path']}' (listed in report.json) is missing")
        if self.sha256(fmt) != entry["sha256"]:
            raise EdgekitError(f"{self.where}: '{entry['path']}' does not match its report.json (sha256 "
                               f"{self.sha256(fmt)[:12]}… on disk, {entry['sha256'][:12]}… in the report): the run "
                               "directory was modified or is incomplete")

    def formats_for(self, ours: list[str]) -> list[str]:
        """The formats of `ours` the reference has a file of; none is one line (exit 2)."""
        shared = [fmt for fmt in ours if fmt in self.files()]
        if not shared:
            theirs = ", ".join(sorted(self.files())) or "none"
            raise EdgekitError(f"{self.where} has no file in this run's formats ({', '.join(ours)}); it has: {theirs}")
        return shared


def load_reference_run(directory: Path) -> ReferenceRun:
    """An earlier run directory with a valid report.json listing at least one verified file; else one line."""
    directory = Path(directory)
    where = f"{FLAG} '{directory}'"
    if not directory.exists():
        raise EdgekitError(f"{where} does not exist (give an earlier run directory, e.g. main's CI artifact)")
    if not directory.is_dir() or not (directory / "report.json").is_file():
        raise EdgekitError(f"{where} is not a run directory: it has no report.json (give the --out of an earlier "
                           "compress)")
    try:
        report = load_report(directory / "report.json")
    except EdgekitError as exc:
        raise EdgekitError(f"{where}: {exc}") from exc
    run = ReferenceRun(directory, report)
    if not run.files():
        raise EdgekitError(f"{where}: its report.json lists no verified file to compare with")
    return run


def comparison(size_bytes: int, latency: dict | None, accuracy: dict | None, *, path: str, sha256: str,
               reference_size: int, reference_latency: dict | None, reference_accuracy: dict | None,
               run: str | None = None, precision: str | None = None, model: str | None = None) -> dict:
    """An artifact's `vs_reference` (edgekit.core.records.ReferenceComparison) from both sides' measurements."""
    out: dict = {"run": run, "path": path, "sha256": sha256, "size_bytes": reference_size, "precision": precision,
                 "model": model, "size_growth": round(size_bytes / reference_size, 4),
                 "latency_ms": reference_latency, "accuracy": reference_accuracy}
    if latency and reference_latency and latency.get("samples") and reference_latency.get("samples"):
        ci = ratio_with_ci(latency["samples"], reference_latency["samples"])
        out.update(ratio=ci["ratio"], ratio_ci=ci["ratio_ci"])
    if accuracy and reference_accuracy and accuracy.get("top1") is not None \
            and reference_accuracy.get("top1") is not None:
        if (accuracy.get("dataset"), accuracy.get("n")) == (reference_accuracy.get("dataset"),
                                                            reference_accuracy.get("n")):
            out["top1_drop"] = round(reference_accuracy["top1"] - accuracy["top1"], 2)
        else:
            out["note"] = (f"top-1 not compared: the reference's is on {reference_accuracy.get('n')} "
                           f"{reference_accuracy.get('dataset')} images, this file's on {accuracy.get('n')} "
                           f"{accuracy.get('dataset')} images")
    return out
