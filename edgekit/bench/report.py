"""report.json, report.md and the terminal table of a run."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.text import Text

from edgekit.bench.tables import ms, percent
from edgekit.core.io import atomic_write_json, atomic_write_text
from edgekit.core.ui import WIDTH, narrow_table
from edgekit.models.control_flow import REALISED
from edgekit.models.plugins import FAMILIES

COLUMNS = ("set", "format", "precision", "status", "size MB", "params", "MMACs", "max |diff|", "agrees %",
           "top-1 %", "p50 ms", "p90 ms", "p99 ms", "load ms", "not on fast path")
TERMINAL_COLUMNS = ("set", "format", "precision", "size MB", "top-1 %", "p50 ms", "speed-up", "status")
STATUS_STYLE = {"ok": "green", "failed": "bold red"}


def _row(kind: str, a: dict) -> list[str]:
    lat, par, acc = a.get("latency_ms") or {}, a.get("parity") or {}, a.get("accuracy") or {}
    agrees = (a.get("fidelity") or {}).get("agreement")  # over the validation pass; else the parity images'
    if agrees is None and par.get("top1_agreement") is not None:
        agrees = 100 * par["top1_agreement"]

    def num(value, fmt):
        return "-" if value is None else format(value, fmt)

    return [kind, a["format"], a["precision"], a["status"], f"{a['size_bytes'] / 1e6:.2f}", f"{a['params']:,}",
            f"{a['macs'] / 1e6:.1f}", num(par.get("max_abs_diff"), ".2e"), num(agrees, ".2f"),
            num(acc.get("top1"), ".2f"), num(lat.get("p50"), ".3f"), num(lat.get("p90"), ".3f"),
            num(lat.get("p99"), ".3f"), num(a.get("load_ms"), ".1f"), ", ".join(a.get("fallback_ops") or []) or "-"]


def records(report: dict) -> list[tuple[str, dict]]:
    """(set, record) for each artifact, then each baseline file unless the artifacts are their own baseline."""
    out = [("artifact", a) for a in report["artifacts"]]
    if not report.get("baseline_is_artifacts"):
        out += [("baseline", a) for a in report["baseline"]]
    return out


def rows(report: dict) -> list[list[str]]:
    return [_row(kind, a) for kind, a in records(report)]


def speedups(report: dict) -> list[float | None]:
    """Per record of `records`: the p50 of the FP32 baseline file of its format over its own p50 (none when no
    compression ran: the files are their own baseline)."""
    base = {} if report.get("baseline_is_artifacts") else {
        b["format"]: b["latency_ms"]["p50"] for b in report["baseline"] if b["status"] == "ok" and b.get("latency_ms")}
    return [base[a["format"]] / a["latency_ms"]["p50"] if a["format"] in base and a.get("latency_ms") else None
            for _, a in records(report)]


def _terminal_row(kind: str, a: dict, speedup: float | None) -> list[str]:
    return [kind, a["format"], a["precision"], f"{a['size_bytes'] / 1e6:.2f}",
            percent((a.get("accuracy") or {}).get("top1")), ms((a.get("latency_ms") or {}).get("p50")),
            "-" if speedup is None else f"{speedup:.2f}×", f"[{STATUS_STYLE[a['status']]}]{a['status']}[/]"]


def errors(report: dict) -> list[Text]:
    """One line per failed file, '<set> <format> <precision>: <error>', cut to WIDTH columns."""
    lines = []
    for kind, a in records(report):
        if a["status"] != "ok":
            line = Text(f"{kind} {a['format']} {a['precision']}: {' '.join((a.get('error') or 'failed').split())}",
                        style="red", no_wrap=True, overflow="ellipsis")
            line.truncate(WIDTH, overflow="ellipsis")
            lines.append(line)
    return lines


def terminal_table(report: dict) -> Group:
    """The end-of-run summary in 80 columns: the numbers a user looks at first, then failed files' errors.

    report.md keeps every column (`markdown`).
    """
    table = narrow_table(f"{report['model']} @ {report['img_size']} px ({report['data']})")
    ups = speedups(report)
    if any(up is not None for up in ups):
        table.caption = "speed-up: p50 of the FP32 baseline file of the same format / p50"
        table.caption_justify = "left"
    for column in TERMINAL_COLUMNS:
        table.add_column(column, justify="left" if column in ("set", "format", "precision", "status") else "right",
                         no_wrap=True)
    for (kind, a), speedup in zip(records(report), ups):
        table.add_row(*_terminal_row(kind, a, speedup))
    return Group(table, *reference_lines(report), *errors(report))


def _versus(a: dict) -> tuple[str, str, str]:
    """(latency ratio with its CI, size growth, top-1 drop) of an artifact's vs_reference, as text."""
    versus = a["vs_reference"]
    ratio = "not timed" if versus.get("ratio") is None else (
        f"{versus['ratio']:.3f}× ({versus['ratio_ci'][0]:.3f}–{versus['ratio_ci'][1]:.3f})")
    drop = versus.get("top1_drop")
    return ratio, f"{versus['size_growth']:.3f}×", "-" if drop is None else f"{drop:+.2f} points"


def reference_lines(report: dict) -> list[Text]:
    """One line per artifact compared with the reference run (--reference): latency ratio, size growth, top-1."""
    lines = []
    for a in report["artifacts"]:
        if a.get("vs_reference"):
            ratio, growth, drop = _versus(a)
            line = Text(f"vs reference {a['format']}: latency {ratio}, size {growth}, top-1 drop {drop}",
                        no_wrap=True, overflow="ellipsis")
            line.truncate(WIDTH, overflow="ellipsis")
            lines.append(line)
    return lines


def reference_section(report: dict) -> list[str]:
    """Markdown: each artifact against the reference run's file of its format, timed interleaved in this run."""
    compared = [a for a in report["artifacts"] if a.get("vs_reference")]
    reference = report.get("reference")
    if not compared or not reference:
        return []
    lines = ["", "## Against the reference", "",
             f"Reference run `{reference['run']}` ({reference['model']}, edgekit {reference['edgekit_version']}); "
             "its files were timed interleaved with this run's, on the same device."
             + (f" Not in the reference: {', '.join(reference['missing_formats'])}."
                if reference["missing_formats"] else ""), "",
             "| format | reference file | p50 ms (this / reference) | latency ratio (95% CI) | size growth | top-1 drop |",
             "|---|---|---|---|---|---|"]
    for a in compared:
        versus = a["vs_reference"]
        ratio, growth, drop = _versus(a)
        p50s = "-" if not versus.get("latency_ms") or not a.get("latency_ms") else (
            f"{a['latency_ms']['p50']:.3f} / {versus['latency_ms']['p50']:.3f}")
        lines.append(f"| {a['format']} | `{versus['path']}` | {p50s} | {ratio} | {growth} | {drop} |")
    return lines


def _architecture(report: dict) -> str:
    if report.get("timm_id"):
        return f"timm architecture: `{report['timm_id']}`"
    source = str(report.get("source"))
    if source.startswith(f"{FAMILIES}."):
        return f"architecture: `{report['model']}` from edgekit's model family `{source.rpartition('.')[2]}`"
    return f"architecture: `{report['model']}` from model plugin `{source}`"


def attention_line(report: dict) -> list[str]:
    """The compressed model's efficient attention (--attention), when it has one."""
    swap = report.get("attention")
    if not swap:
        return []
    size = (f"keys/values of {', '.join(map(str, swap['tokens']))} tokens projected to "
            f"{', '.join(map(str, swap['projected']))}" if "projected" in swap else f"{swap['features']} random features")
    return [f"- attention: **{swap['attention']}** ({size}) in {swap['layers']} layer(s) of the compressed model; "
            f"the teacher and the baseline files keep {swap['teacher']} attention"]


def markdown(report: dict) -> str:
    env = report["env"]
    lines = [f"# edgekit report: {report['model']}", "",
             f"- {_architecture(report)}, input {report['img_size']} px, {report['num_classes']} classes",
             f"- data: `{report['data']}`", f"- edgekit {report['edgekit_version']}, torch {env.get('torch')}, "
             f"threads {env['threads']} on {env['cpu']} ({' '.join(env['flags'])})",
             f"- verdict: {'all artifacts verified' if report['ok'] else '**some artifacts FAILED verification**'}", ""]
    lines[-1:-1] = attention_line(report)
    if report.get("accuracy_pytorch"):
        acc, base = report["accuracy_pytorch"], report.get("baseline_accuracy_pytorch")
        lines += [f"PyTorch top-1 {acc['top1']:.2f}% / top-5 {acc['top5']:.2f}% on {acc['n']} images of "
                  f"{acc['dataset']}."]
        if base and not report.get("baseline_is_artifacts"):
            lines += [f"Uncompressed FP32 teacher: top-1 {base['top1']:.2f}% "
                      f"({acc['top1'] - base['top1']:+.2f} points after compression)."]
        lines += [""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(report)]
    if report.get("baseline_is_artifacts"):
        lines += ["", "No compression stage ran: the FP32 artifacts are their own baseline."]
    lines += reference_section(report)
    lines += int8_section(report)
    lines += control_flow_section(report)
    lines += training_section(report)
    lines += ["", "## Stages", "", "| stage | seconds | cache | metrics |", "|---|---|---|---|"]
    for stage in report["stages"]:
        metrics = ", ".join(f"{k}={v}" for k, v in stage["metrics"].items() if not isinstance(v, (list, dict)))
        name = " ".join(p for p in ("baseline" if stage.get("role") == "baseline" else "", stage["name"],
                                    stage.get("target") or "") if p)
        lines.append(f"| {name} | {stage['seconds']:.1f} | {'hit' if stage.get('cached') else '-'} | {metrics} |")
    plots = report.get("plots") or []
    if plots:
        lines += ["", *[f"![{p}]({p})" for p in plots]]
    return "\n".join(lines) + "\n"


def control_flow_section(report: dict) -> list[str]:
    """Where a model's data-dependent control flow (SkipNet's block skipping) is realised, file by file."""
    notes = [(kind, a, n) for kind, a in records(report) for n in a.get("notes") or [] if REALISED in n]
    if not notes:
        return []
    return ["", "## Data-dependent control flow", "", *[f"- {kind} {a.get('format')} ({a.get('precision')}): {n}"
                                                        for kind, a, n in notes]]


TRAINING_STAGES = {"teacher": "teacher", "prune": "prune (between steps)", "kd": "distillation",
                   "finetune": "fine-tune", "int8": "QAT"}


def training_section(report: dict) -> list[str]:
    """Markdown: the training recipe used, and each training stage's time, throughput and best epoch."""
    used = report.get("training_recipe") or {}
    rows = []
    for stage in report["stages"]:
        metrics = stage["metrics"].get("qat", stage["metrics"]) if stage["name"] == "int8" else stage["metrics"]
        if stage["name"] in TRAINING_STAGES and metrics.get("train_seconds") and not stage.get("cached"):
            rows.append(f"| {TRAINING_STAGES[stage['name']]} | {len(metrics.get('history') or [])} | "
                        f"{metrics['train_seconds']} | {metrics.get('train_img_per_s')} | "
                        f"{metrics.get('best_val_top1')} | {metrics.get('accelerator', '')} |")
    if not used and not rows:
        return []
    lines = ["", "## Training", ""]
    if used:
        name = used.get("name", "none")
        given = ", ".join(f"{k} {v}" for k, v in (used.get("applied") or {}).items())
        lines += [f"- recipe: **{name}**" + (f" ({used['description']})" if used.get("description") else "")
                  + (" for fine-tuning" if used.get("fine_tuning") else ""),
                  f"- values it set: {given or 'none'}; overridden by you: {', '.join(used.get('overridden') or []) or 'none'}"]
        if used.get("data"):
            lines.append("- of these, from the dataset: " + ", ".join(f"{k} {v}" for k, v in used["data"].items()))
    if rows:
        lines += ["", "| stage | epochs | seconds | img/s | best val top-1 | on |", "|---|---|---|---|---|---|", *rows]
    return lines


def int8_section(report: dict) -> list[str]:
    """Markdown for the int8 stage: scheme, per-file size/accuracy vs FP32, what stayed float, accuracy control."""
    stage = next((s["metrics"] for s in report["stages"] if s["name"] == "int8"), None)
    if stage is None:
        return []
    scheme = stage["scheme"]
    why = stage.get("backend_choice")
    lines = ["", "## INT8", "", f"- mode: **{stage['mode']}**, backend `{stage['backend']}`"
             f"{f' ({why})' if why and why != 'requested' else ''}, {stage['calib_samples']} calibration images",
             f"- weights {scheme['weights']}; activations {scheme['activations']}"
             f"{f' (ranges: {ranges})' if (ranges := scheme.get('activation_ranges')) else ''}; "
             f"batch norm {scheme['batch_norm']}",
             f"- layers kept in float: {', '.join(scheme['float_layers']) or 'none'}", "",
             "| format | size vs FP32 | top-1 change vs FP32 file | int8 ops | float ops (kinds) | max diff vs PyTorch int8 |",
             "|---|---|---|---|---|---|"]
    for a in report["artifacts"]:
        census, versus = a.get("int8_census") or {}, a.get("vs_fp32") or {}
        drop = versus.get("top1_drop")
        lines.append(f"| {a['format']} | {versus.get('size_ratio', '-')}× | {'-' if drop is None else f'{-drop:+.2f}'} | "
                     f"{census.get('int8_ops', '-')} | {census.get('float_ops', '-')} "
                     f"({', '.join(census.get('float_op_types', {})) or 'none'}) | "
                     f"{(a.get('parity') or {}).get('max_abs_diff', '-')} |")
    control = stage.get("accuracy_control")
    if control:
        lines += ["", f"Accuracy control (--max-drop {control['max_drop']}, FP32 top-1 {control['fp32_top1']:.2f}%): "
                  + "; ".join(f"{s['float_layers']} float layer(s) → drop {s['drop']}" for s in control["steps"]),
                  "", "Most sensitive layers: " + ", ".join(f"`{r['layer']}` ({r['sensitivity']:.3g})"
                                                           for r in control["ranking"][:10])]
    return lines


def write_report(report: dict, directory: Path) -> None:
    atomic_write_json(directory / "report.json", report)
    atomic_write_text(directory / "report.md", markdown(report))
