"""`edgekit bench CAND --baseline REF --budget FILE`: gate the files just timed with the gate `edgekit check` uses.

No compress report is made up. The gate input holds what bench measured: per candidate its size, latency samples
and top-1 (with --data); with --baseline, the baseline timed interleaved with that candidate is both its baseline
(`max_latency_ratio`, `max_top1_drop`) and its reference (`max_latency_ratio_vs_reference`, `max_size_growth`,
`max_top1_drop_vs_reference`). Model, precision, parameters and MACs come from the report.json of the run directory
a file sits in (the entry with its sha256); for a file outside a run directory the model is the file's stem, the
precision `unknown` and parameters/MACs are not measured.

Everything that can be refused is refused before timing: the budget file, a budget matching no file, limits that
need a --baseline or --data the command does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.bench.budget import ACCURACY_LIMITS, REFERENCE_LIMITS, BudgetFile, load_budgets
from edgekit.bench.gate import evaluate
from edgekit.bench.reference import comparison
from edgekit.core.errors import EdgekitError
from edgekit.core.formats import format_for_path
from edgekit.core.io import sha256_file

#: limits that compare a candidate with the --baseline timed with it
BASELINE_LIMITS = ("max_latency_ratio", "max_top1_drop", *REFERENCE_LIMITS)


def file_facts(path: Path) -> dict:
    """model, precision, params and macs of `path` from its run directory's report.json, else from its name."""
    path = Path(path)
    digest = sha256_file(path)
    for folder in (path.parent, path.parent.parent):  # a shipped file, or one under baseline/
        try:
            report = json.loads((folder / "report.json").read_text())
            entries = [*report.get("artifacts", []), *report.get("baseline", [])]
        except (OSError, ValueError, AttributeError, TypeError):
            continue
        for entry in entries:
            if isinstance(entry, dict) and entry.get("sha256") == digest:
                return {"model": str(report.get("model") or path.stem), "precision": entry.get("precision", "unknown"),
                        "params": entry.get("params"), "macs": entry.get("macs")}
    return {"model": path.stem, "precision": "unknown", "params": None, "macs": None}


class BenchGate:
    """The budgets of one `edgekit bench --budget` invocation, checked against its files before they are timed."""

    def __init__(self, budget_path: Path, paths: list[Path], baseline: Path | None, data: str | None,
                 device: str):
        self.budgets: BudgetFile = load_budgets(budget_path)
        self.source, self.data = str(budget_path), data
        for path in [*paths, *([baseline] if baseline else [])]:
            format_for_path(path)
            if not Path(path).is_file():
                raise EdgekitError(f"artifact '{path}' does not exist")
        self.facts = {str(p): file_facts(p) for p in paths}
        self.baseline_facts = file_facts(baseline) if baseline is not None else None
        fields = [{"model": self.facts[str(p)]["model"], "format": format_for_path(p).name,
                   "precision": self.facts[str(p)]["precision"], "device": device} for p in paths]
        matching = [b for b in self.budgets.budgets if any(b.match.matches(f) for f in fields)]
        if not matching:
            models = ", ".join(dict.fromkeys(f["model"] for f in fields))
            formats = ", ".join(sorted({f["format"] for f in fields}))
            raise EdgekitError(f"no budget in '{budget_path}' matches any file (model {models}, formats {formats}, "
                               f"device {device})")
        limits = {key for budget in matching for key in budget.limits()}
        compared = [key for key in BASELINE_LIMITS if key in limits]
        if compared and baseline is None:
            raise EdgekitError(f"--budget '{budget_path}' limits {', '.join(compared)}, which compare with a "
                               "baseline/reference, but no --baseline FILE is timed with the candidate")
        accuracy = [key for key in ACCURACY_LIMITS if key in limits]
        if accuracy and data is None:
            raise EdgekitError(f"--budget '{budget_path}' limits accuracy ({', '.join(accuracy)}) but no --data "
                               "is given to measure it on")

    def evaluate(self, result: dict) -> dict:
        """The gate of bench's result (raises exit 2 only where evaluate does)."""
        gate = evaluate(gate_input(result, self.facts, self.baseline_facts, self.data), self.budgets, self.source)
        gate["bench"] = True
        return gate


def _measured(accuracy: dict | None) -> dict | None:
    """bench's accuracy record when it holds a top-1 (a device without outputs gives top1 None)."""
    return accuracy if accuracy and accuracy.get("top1") is not None else None


def gate_input(result: dict, facts: dict[str, dict], baseline_facts: dict | None, data: str | None) -> dict:
    """The keys of a report that edgekit.bench.gate.evaluate reads, from bench's own measurements."""
    comparisons = {c["candidate"]: c for c in result["comparisons"]}
    base = result.get("baseline")
    artifacts, baselines = [], []
    for r in result["results"]:
        fact = facts[r["path"]]
        accuracy = _measured(r.get("accuracy"))
        artifact = {"model": fact["model"], "format": r["format"], "precision": fact["precision"], "path": r["path"],
                    "status": "ok", "size_bytes": r["size_bytes"], "sha256": r["sha256"], "params": fact["params"],
                    "macs": fact["macs"], "latency_ms": r["latency_ms"], "accuracy": accuracy}
        c = comparisons.get(r["path"])
        if c is not None and base is not None:
            base_accuracy = _measured(c.get("baseline_accuracy"))
            artifact["vs_reference"] = comparison(
                r["size_bytes"], r["latency_ms"], accuracy, path=base["path"], sha256=base["sha256"],
                reference_size=base["size_bytes"], reference_latency=c["baseline_latency_ms"],
                reference_accuracy=base_accuracy, precision=baseline_facts["precision"],
                model=baseline_facts["model"])
            baselines.append({"format": base["format"], "path": base["path"], "precision": baseline_facts["precision"],
                              "status": "ok", "timed_with": r["path"], "size_bytes": base["size_bytes"],
                              "latency_ms": c["baseline_latency_ms"], "accuracy": base_accuracy})
        artifacts.append(artifact)
    return {"model": ", ".join(dict.fromkeys(f["model"] for f in facts.values())), "data": data,
            "accuracy_pytorch": None, "baseline_is_artifacts": False, "artifacts": artifacts, "baseline": baselines}
