"""PNG plots of a run: latency distributions and accuracy vs latency."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401
from matplotlib.lines import Line2D  # noqa: E402


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


#: one marker per format (further formats cycle through the rest)
MARKERS = {"onnx": "o", "tflite": "s", "pte": "^"}
SPARE_MARKERS = ("D", "v", "P", "X")
COMPRESSED, BASELINE = "tab:red", "tab:blue"


def _marker(fmt: str, seen: dict[str, str]) -> str:
    if fmt not in seen:
        seen[fmt] = MARKERS.get(fmt) or SPARE_MARKERS[len([f for f in seen if f not in MARKERS]) % len(SPARE_MARKERS)]
    return seen[fmt]


def accuracy_latency_plot(entries: list[dict], path: Path, title: str) -> Path | None:
    """Top-1 vs p50 latency: one marker per file (shape: format; filled: the shipped file, hollow: its FP32
    baseline), an arrow from each baseline to its compressed file, the Pareto front dashed. No text on the points,
    so nothing overlaps; the legend sits below the axes."""
    points = [e for e in entries if e.get("latency_ms") and e.get("accuracy")]
    if not points:
        return None
    xy = [(e["latency_ms"]["p50"], e["accuracy"]["top1"]) for e in points]
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    front = pareto_front(xy)
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], ls="--", color="0.55", lw=1, zorder=1)
    markers: dict[str, str] = {}
    by_format: dict[str, dict[str, tuple[float, float]]] = {}
    for e, (x, y) in zip(points, xy):
        baseline = e.get("label") == "baseline"
        color = BASELINE if baseline else COMPRESSED
        ax.scatter(x, y, marker=_marker(e["format"], markers), s=70, zorder=3, linewidths=1.5, edgecolors=color,
                   facecolors="white" if baseline else color)
        by_format.setdefault(e["format"], {})["baseline" if baseline else "shipped"] = (x, y)
    for pair in by_format.values():
        if len(pair) == 2:
            ax.annotate("", xy=pair["shipped"], xytext=pair["baseline"], zorder=2,
                        arrowprops={"arrowstyle": "->", "color": "0.6", "shrinkA": 6, "shrinkB": 6})
    handles = [Line2D([], [], ls="", marker=m, color="0.35", label=f) for f, m in markers.items()]
    handles += [Line2D([], [], ls="", marker="o", mfc=COMPRESSED, mec=COMPRESSED, color=COMPRESSED, label="shipped"),
                Line2D([], [], ls="", marker="o", mfc="white", mec=BASELINE, color=BASELINE, label="FP32 baseline"),
                Line2D([], [], ls="--", color="0.55", label="Pareto front")]
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(handles),
              frameon=False, handletextpad=0.3, columnspacing=1.0)
    ax.margins(0.12)
    ax.set_xlabel("p50 latency per image (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
