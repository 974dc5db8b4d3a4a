"""Terminal tables of `edgekit bench`, laid out for an 80-column terminal (`--json` has every number)."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from edgekit.bench.cpus import cpu_ranges
from edgekit.core.ui import narrow_table


def ms(value: float | None) -> str:
    """A latency to about four significant digits (0.412, 12.35, 512.3); '-' when not measured."""
    if value is None:
        return "-"
    return f"{value:.{3 if value < 10 else 2 if value < 100 else 1}f}"


def whole(value: float | None) -> str:
    """A number rounded to a whole; '-' when not measured."""
    return "-" if value is None else f"{value:.0f}"


def percent(value: float | None) -> str:
    """A top-1 accuracy in percent to two decimals; '-' when not measured."""
    return "-" if value is None else f"{value:.2f}"


class Tail:
    """Text that keeps its end when its column is too narrow: a long path shows as '…/artifacts/model.onnx'."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, cell_len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text
        if cell_len(text) > options.max_width:
            while text and cell_len(text) > options.max_width - 1:
                text = text[1:]
            text = "…" + text
        yield Text(text, no_wrap=True)


def bench_table(result: dict) -> Table:
    """One row per timed file: size, latency percentiles, cold start in a child process, peak memory, top-1."""
    settings = result["settings"]
    where = f" on {settings['device']}" if settings.get("device", "local") != "local" else ""
    table = narrow_table(f"latency in ms{where}, {settings['threads']} thread(s), CPUs {cpu_ranges(settings['cpus'])}")
    table.caption = "runs, mean, std, min and every sample: --json"
    table.add_column("artifact")  # the one column that gives up width: paths keep their end
    table.add_column("format", no_wrap=True)
    for header in ("MB", "p50", "p90", "p99", "cold\nload\nms", "peak\nRSS\nMiB", "top-1\n%"):
        table.add_column(header, justify="right", no_wrap=True)
    for r in result["results"]:
        latency, cold = r["latency_ms"], r["cold_start"]
        table.add_row(Tail(r["path"]), r["format"], f"{r['size_bytes'] / 1e6:.2f}", ms(latency["p50"]),
                      ms(latency["p90"]), ms(latency["p99"]), whole(cold.get("load_ms")), whole(cold.get("peak_rss_mb")),
                      percent((r.get("accuracy") or {}).get("top1")))
    return table


def comparison_text(c: dict) -> Text:
    """A --baseline comparison: the two paths, then the latency ratio with its CI and the Mann–Whitney p-values."""
    low, high = c["ratio_ci"]
    return Text(f"{c['candidate']} / {c['baseline']}:\n"
                f"  latency ratio {c['ratio']:.3f} (95% CI {low:.3f}–{high:.3f})\n"
                f"  Mann–Whitney p(slower) {c['mann_whitney']['p_slower']:.3g}, "
                f"p(faster) {c['mann_whitney']['p_faster']:.3g}")


def bench_summary(result: dict) -> Group:
    """What `edgekit bench` prints: the table, then one comparison per candidate when --baseline was given."""
    return Group(bench_table(result), *(comparison_text(c) for c in result["comparisons"]))


def tensorrt_table(result: dict) -> Table:
    """One row per engine pair: precision, batch-1 latency (end to end and GPU compute), throughput at --batch."""
    settings = result["settings"]
    table = narrow_table(f"TensorRT {result['env'].get('tensorrt', '?')} on {settings['device']}, latency in ms")
    table.caption = "engines, sha256 and every query: --json"
    table.add_column("file")
    for header in ("prec", "p50", "p90", "GPU\np50", f"img/s\n@{settings['batch']}", "checked"):
        table.add_column(header, justify="right", no_wrap=True)
    for r in result["results"]:
        latency, through = r["latency_ms"], r["throughput"]
        table.add_row(Tail(r["path"]), r["precision"], ms(latency["p50"]), ms(latency["p90"]),
                      ms(latency.get("gpu_compute_p50")), whole(through["img_per_s"]), r["verification"]["status"])
    return table
