"""`edgekit check REPORT.json --budget FILE`: gate a finished run and write the results where CI shows them."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.bench.budget import load_budgets
from edgekit.bench.gate import evaluate
from edgekit.bench.gate_output import append_step_summary, markdown
from edgekit.bench.junit import junit_xml
from edgekit.bench.report_file import load_report
from edgekit.core.errors import EdgekitError
from edgekit.core.io import atomic_write_text


def run_check(report_path: Path, budget_path: Path, junit: Path | None = None, markdown_path: Path | None = None,
              as_json: bool = False) -> tuple[dict, str | None]:
    """Evaluate, write --junit / --markdown / $GITHUB_STEP_SUMMARY; returns the gate and the JSON text if asked."""
    budgets = load_budgets(budget_path)
    report = load_report(report_path)
    gate = evaluate(report, budgets, str(budget_path))
    gate["report"] = str(report_path)
    publish(gate, junit, markdown_path)
    return gate, (json.dumps(gate, indent=2) if as_json else None)


def publish(gate: dict, junit: Path | None = None, markdown_path: Path | None = None) -> None:
    """Write --junit / --markdown and append the markdown to $GITHUB_STEP_SUMMARY (check and bench --budget)."""
    summary = markdown(gate)
    for target, text in ((junit, junit_xml(gate) if junit else ""), (markdown_path, summary)):
        if target is not None:
            _write(Path(target), text)
    append_step_summary(summary)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as exc:
        raise EdgekitError(f"cannot write '{path}' ({exc.strerror or exc})") from exc

