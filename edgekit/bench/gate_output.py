"""Human-readable gate results: the terminal table and the markdown summary (also for $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Group
from rich.padding import Padding
from rich.text import Text

COLUMNS = ("budget", "artifact", "limit", "observed", "verdict", "evidence")
STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}
MARK = {"pass": "✅ pass", "fail": "❌ FAIL", "inconclusive": "⚠️ inconclusive"}


SHORT = {"max_size_mb": ("size", ".2f"), "max_params": ("params", ","), "max_macs": ("MACs", ","),
         "max_latency_p50_ms": ("p50", ".3f"), "max_latency_p90_ms": ("p90", ".3f"),
         "max_latency_ratio": ("latency ratio", ".3f"), "min_top1": ("top-1", ".2f"), "max_top1_drop": ("top-1 drop", ".2f"),
         "max_latency_ratio_vs_reference": ("latency vs reference", ".3f"),
         "max_size_growth": ("size vs reference", ".3f"),
         "max_top1_drop_vs_reference": ("top-1 drop vs reference", ".2f")}


def limit_text(check: dict) -> str:
    """'size ≤ 5 MB', 'top-1 ≥ 88 %', 'verified'."""
    key, unit = check["limit_key"], check["unit"]
    if key not in SHORT:
        return key
    op = "≥" if key.startswith("min_") else "≤"
    limit = check["limit"]
    shown = f"{limit:,}" if isinstance(limit, int) else f"{limit:g}"
    return f"{SHORT[key][0]} {op} {shown}{' ' + unit if unit else ''}"


def observed_text(check: dict) -> str:
    value = check["observed"]
    if value is None:
        return "-"
    if isinstance(value, str) or check["limit_key"] not in SHORT:
        return str(value)
    return format(value, SHORT[check["limit_key"]][1])


def rows(gate: dict) -> list[list[str]]:
    return [[c["budget"], f"{c['format']} {c['precision']}", limit_text(c), observed_text(c), c["verdict"], c["detail"]]
            for c in gate["checks"]]


def headline(gate: dict) -> str:
    """One line: the verdict and the counts behind it."""
    counts = {v: sum(c["verdict"] == v for c in gate["checks"]) for v in ("pass", "fail", "inconclusive")}
    return (f"budget gate: {gate['verdict'].upper()} ({counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['inconclusive']} inconclusive) for {gate['model']} against {gate['budget_file']}")


def render(gate: dict) -> Group:
    """The gate on an 80-column console: the headline, then per check a verdict line and its evidence below it."""
    lines: list = [Text(headline(gate), style="bold")]
    for check, row in zip(gate["checks"], rows(gate)):
        verdict = Text(f"{check['verdict'].upper():<13}", style=STYLE[check["verdict"]])
        lines.append(verdict + Text(f"{row[0]} · {row[1]} · {row[2]} · observed {row[3]}"))
        lines.append(Padding(Text(row[5], style="dim"), (0, 0, 0, 13)))
    notes = _notes(gate, plain=True)
    return Group(*lines, *([Text(notes, style="dim")] if notes else []))


def _notes(gate: dict, plain: bool = False) -> str:
    notes = []
    if gate["latency_tests"]:
        notes.append(f"{gate['latency_tests']} latency test(s) at alpha {gate['alpha']:g} family-wise "
                     f"({gate['alpha_per_test']:.3g} each): {gate['method']}")
    if gate["unmatched"]:
        notes.append("budgets matching no artifact: " + "; ".join(gate["unmatched"]))
    return "\n".join(notes) if plain else "\n".join(f"- {n}" for n in notes)


def markdown(gate: dict) -> str:
    """A markdown section: headline, table, method and unmatched budgets."""
    mark = MARK[gate["verdict"]]
    lines = [f"## edgekit budgets: {mark}", "", headline(gate), "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for check, row in zip(gate["checks"], rows(gate)):
        row[4] = MARK[check["verdict"]]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", _notes(gate)]
    return "\n".join(lines) + "\n"


def append_step_summary(text: str) -> Path | None:
    """Append `text` to $GITHUB_STEP_SUMMARY when GitHub Actions sets it; returns the file written."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return Path(target)


def print_gate(gate: dict) -> None:
    """The gate table on the console (stderr); a gate that could not run is one error line."""
    from edgekit.core.ui import console

    if gate["verdict"] == "error":
        console.print(f"[bold red]budget gate: ERROR[/] {gate['error']}")
        return
    console.print(render(gate))
