"""PNG plots of a run: latency distributions and accuracy vs latency."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def latency_plot(entries: list[dict], path: Path, title: str) -> Path | None:
    """Box plot of per-run latency for each measured artifact (baseline and candidates)."""
    measured = [e for e in entries if e.get("latency_ms") and e["latency_ms"].get("samples")]
    if not measured:
        return None
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(measured)), 4), dpi=120)
    labels = [f"{e['label']}\n{e['format']} {e['precision']}" for e in measured]
    ax.boxplot([e["latency_ms"]["samples"] for e in measured], showfliers=True)
    ax.set_xticks(range(1, len(measured) + 1), labels, fontsize=8)
    threads = measured[0]["latency_ms"]["threads"]
    ax.set_ylabel(f"latency per image (ms), {threads} thread{'s' if threads > 1 else ''}")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def accuracy_latency_plot(entries: list[dict], path: Path, title: str) -> Path | None:
    """Top-1 vs p50 latency, one point per artifact."""
    points = [e for e in entries if e.get("latency_ms") and e.get("accuracy")]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    for e in points:
        ax.scatter(e["latency_ms"]["p50"], e["accuracy"]["top1"], s=40)
        ax.annotate(f"{e['label']} {e['format']}", (e["latency_ms"]["p50"], e["accuracy"]["top1"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
