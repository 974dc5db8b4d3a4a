"""PNG plots of a run: latency distributions and accuracy vs latency."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401


def latency_plot(entries: list[dict], path: Path, title: str) -> Path | None:
    """Box plot of per-run latency for each measured artifact (baseline and candidates); log axis when stalls
    (runs over 4x the fastest) would squash the boxes."""
    measured = [e for e in entries if e.get("latency_ms") and e["latency_ms"].get("samples")]
    if not measured:
        return None
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(measured)), 4), dpi=120)
    labels = [f"{e['label']}\n{e['format']} {e['precision']}" for e in measured]
    ax.boxplot([e["latency_ms"]["samples"] for e in measured], showfliers=True)
    ax.set_xticks(range(1, len(measured) + 1), labels, fontsize=8)
    everything = [s for e in measured for s in e["latency_ms"]["samples"]]
    if max(everything) > 4 * min(everything):  # stalls would squash the boxes: show them on a log axis
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    threads = measured[0]["latency_ms"]["threads"]
    ax.set_ylabel(f"latency per image (ms), {threads} thread{'s' if threads > 1 else ''}")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, accuracy) points no other point beats on both (faster-or-equal and at least as
    accurate, better on one), sorted by latency."""
    front = [i for i, (lat, acc) in enumerate(points)
             if not any(ol <= lat and oa >= acc and (ol < lat or oa > acc) for ol, oa in points)]
    return sorted(front, key=lambda i: points[i])


def accuracy_latency_plot(entries: list[dict], path: Path, title: str) -> Path | None:
    """Top-1 vs p50 latency, one point per artifact; the Pareto front (best accuracy for its latency) highlighted."""
    points = [e for e in entries if e.get("latency_ms") and e.get("accuracy")]
    if not points:
        return None
    xy = [(e["latency_ms"]["p50"], e["accuracy"]["top1"]) for e in points]
    front = pareto_front(xy)
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    ax.scatter([x for x, _ in xy], [y for _, y in xy], s=36, color="0.6", label="dominated", zorder=2)
    ax.step([xy[i][0] for i in front], [xy[i][1] for i in front], where="post", color="tab:red", alpha=0.6, zorder=1)
    ax.scatter([xy[i][0] for i in front], [xy[i][1] for i in front], s=56, color="tab:red", label="Pareto front",
               zorder=3)
    for e, (x, y) in zip(points, xy):
        ax.annotate(f"{e['label']} {e['format']} {e.get('precision', '')}".strip(), (x, y), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
