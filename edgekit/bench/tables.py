"""Console tables of `edgekit bench` results."""

from __future__ import annotations

from rich.table import Table

from edgekit.core.ui import console


def print_bench(result: dict) -> None:
    """The `edgekit bench` results and comparisons on the console."""
    table = Table(title=f"latency (ms), {result['settings']['threads']} thread(s), CPUs {result['settings']['cpus']}")
    for column in ("artifact", "format", "MB", "runs", "p50", "p90", "p99", "mean", "std", "min", "cold load ms",
                   "peak RSS MiB", "top-1 %"):
        table.add_column(column, justify="left" if column in ("artifact", "format") else "right")
    for r in result["results"]:
        lat, acc, cold = r["latency_ms"], r.get("accuracy") or {}, r["cold_start"]
        table.add_row(r["path"], r["format"], f"{r['size_bytes'] / 1e6:.2f}", str(lat["runs"]), f"{lat['p50']:.3f}",
                      f"{lat['p90']:.3f}", f"{lat['p99']:.3f}", f"{lat['mean']:.3f}", f"{lat['std']:.3f}",
                      f"{lat['min']:.3f}", f"{cold['load_ms']:.1f}", f"{cold['peak_rss_mb']:.0f}",
                      f"{acc['top1']:.2f}" if acc.get("top1") is not None else "-")
    console.print(table)
    for c in result["comparisons"]:
        console.print(f"{c['candidate']} / {c['baseline']}: ratio {c['ratio']:.3f} "
                      f"(95% CI {c['ratio_ci'][0]:.3f}–{c['ratio_ci'][1]:.3f}; Mann–Whitney p(slower) "
                      f"{c['mann_whitney']['p_slower']:.3g}, p(faster) {c['mann_whitney']['p_faster']:.3g})")
