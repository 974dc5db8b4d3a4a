"""The reference stage: one shipped file of an earlier run directory (`compress --reference RUN_DIR`), per format.

It trains, exports and times nothing: it hands the bench stage the earlier run's file of its format, checked against
that run's report.json (present, same sha256), with the facts that report holds (size, precision, top-1). The
bench stage times it interleaved with this run's file, so the `*_vs_reference` budgets compare two files measured
on the same device in the same invocation. Not cached (it is instant); its key is the file's sha256, so the bench
node's key, which holds its inputs' keys, changes exactly when the reference's bytes do.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.core.records import ReferenceFile
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register


@register
class Reference(Stage):
    name = "reference"
    libraries = ()
    cacheable = False
    record_type = ReferenceFile

    def identity(self, node: Node, setting: Setting) -> dict:
        return {"sha256": setting.reference.sha256(node.target)}

    def check(self, node: Node, setting: Setting) -> None:
        setting.reference.check(node.target)

    def describe(self, node: Node, setting: Setting) -> str:
        run = setting.reference
        return f"{run.files()[node.target]['path']} of {run.directory}"

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        return 0.0

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        run = ctx.setting.reference
        run.check(node.target)
        entry = run.files()[node.target]
        record = ReferenceFile(run=str(run.directory), path=entry["path"], format=node.target,
                               sha256=entry["sha256"], size_bytes=entry["size_bytes"], precision=entry["precision"],
                               model=run.report["model"], accuracy=entry.get("accuracy"))
        return Output({"path": entry["path"], "sha256": entry["sha256"][:16]}, record=record)


def reference_path(output: Output | None) -> Path | None:
    """Where the file of a reference node's output is (None without one)."""
    if output is None or not output.ok or output.record is None:
        return None
    return Path(output.record.run) / output.record.path
