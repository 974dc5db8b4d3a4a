"""report.json, report.md and the terminal table of a run."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from edgekit.core.io import atomic_write_json, atomic_write_text

COLUMNS = ("set", "format", "precision", "status", "size MB", "params", "MMACs", "max |diff|", "top-1 agree",
           "top-1 %", "p50 ms", "p90 ms", "p99 ms", "load ms", "not on fast path")


def _row(kind: str, a: dict) -> list[str]:
    lat, par, acc = a.get("latency_ms") or {}, a.get("parity") or {}, a.get("accuracy") or {}

    def num(value, fmt):
        return "-" if value is None else format(value, fmt)

    return [kind, a["format"], a["precision"], a["status"], f"{a['size_bytes'] / 1e6:.2f}", f"{a['params']:,}",
            f"{a['macs'] / 1e6:.1f}", num(par.get("max_abs_diff"), ".2e"), num(par.get("top1_agreement"), ".3f"),
            num(acc.get("top1"), ".2f"), num(lat.get("p50"), ".3f"), num(lat.get("p90"), ".3f"),
            num(lat.get("p99"), ".3f"), num(a.get("load_ms"), ".1f"), ", ".join(a.get("fallback_ops") or []) or "-"]


def rows(report: dict) -> list[list[str]]:
    out = [_row("artifact", a) for a in report["artifacts"]]
    if not report.get("baseline_is_artifacts"):
        out += [_row("baseline", a) for a in report["baseline"]]
    return out


def terminal_table(report: dict) -> Table:
    table = Table(title=f"{report['model']} @ {report['img_size']} px ({report['data']})")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("set", "format", "precision", "status") else "right")
    for row in rows(report):
        table.add_row(*row)
    return table


def markdown(report: dict) -> str:
    env = report["env"]
    lines = [f"# edgekit report: {report['model']}", "",
             f"- timm architecture: `{report['timm_id']}`, input {report['img_size']} px, {report['num_classes']} classes",
             f"- data: `{report['data']}`", f"- edgekit {report['edgekit_version']}, torch {env.get('torch')}, "
             f"threads {env['threads']} on {env['cpu']} ({' '.join(env['flags'])})",
             f"- verdict: {'all artifacts verified' if report['ok'] else '**some artifacts FAILED verification**'}", ""]
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
    lines += int8_section(report)
    lines += ["", "## Stages", "", "| stage | seconds | metrics |", "|---|---|---|"]
    for stage in report["stages"]:
        metrics = ", ".join(f"{k}={v}" for k, v in stage["metrics"].items() if not isinstance(v, (list, dict)))
        lines.append(f"| {stage['name']} | {stage['seconds']:.1f} | {metrics} |")
    plots = report.get("plots") or []
    if plots:
        lines += ["", *[f"![{p}]({p})" for p in plots]]
    return "\n".join(lines) + "\n"


def int8_section(report: dict) -> list[str]:
    """Markdown for the int8 stage: scheme, per-file size/accuracy vs FP32, what stayed float, accuracy control."""
    stage = next((s["metrics"] for s in report["stages"] if s["name"] == "int8"), None)
    if stage is None:
        return []
    scheme = stage["scheme"]
    why = stage.get("backend_choice")
    lines = ["", "## INT8", "", f"- mode: **{stage['mode']}**, backend `{stage['backend']}`"
             f"{f' ({why})' if why and why != 'requested' else ''}, {stage['calib_samples']} calibration images",
             f"- weights {scheme['weights']}; activations {scheme['activations']}; batch norm {scheme['batch_norm']}",
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
