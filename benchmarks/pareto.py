"""Compress a big model or pick a small one? Top-1 against latency for both, trained the same way, timed together.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pareto.py                   # effnet_lite0 vs three small models
    .venv/bin/python benchmarks/pareto.py --big effnet_b0 --small mbv3_large,mbv4_conv_small --runs 300

Every model trains from scratch with the same command (`edgekit compress MODEL --data D --img-size S --subset N
--epochs E --int8 --qat-epochs Q --formats onnx`, its family's recipe), which ships its FP32 baseline and its INT8
file, both verified and evaluated in onnxruntime on the test split. The big model also runs `--prune RATIO
--recover-epochs R --int8` from the same teacher (the edgekit cache of this work directory holds it). Every .onnx
is then timed here, interleaved in one process, at 1 thread (and 2), and plotted: top-1 vs p50, the Pareto front
dashed, each point labelled without overlaps (checked on the rendered figure and recorded). Writes
benchmarks/results/pareto.{md,json,png} with the CPU's name and SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
T0 = time.perf_counter()
#: label offsets tried in turn (points), and the text alignment each one needs
OFFSETS = [((7, 5), "left", "bottom"), ((7, -5), "left", "top"), ((-7, 5), "right", "bottom"),
           ((-7, -5), "right", "top"), ((0, 9), "center", "bottom"), ((0, -9), "center", "top"),
           ((12, 0), "left", "center"), ((-12, 0), "right", "center"), ((7, 16), "left", "bottom"),
           ((-7, -16), "right", "top"), ((7, -16), "left", "top"), ((-7, 16), "right", "bottom")]


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.0f} s] {message}", flush=True)


def compress(args_list: list[str], out: Path, env: dict, reuse: bool) -> dict:
    """Run `edgekit compress ARGS --out OUT` (or reuse OUT's report); the report, or SystemExit with the reason."""
    if reuse and (out / "report.json").is_file():
        say(f"  reusing {out} (--reuse)")
        return json.loads((out / "report.json").read_text())
    cmd = [sys.executable, "-m", "edgekit", "compress", *args_list, "--out", str(out), "--overwrite"]
    say("+ edgekit compress " + " ".join(args_list))
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"{out.name}.log"
    with log.open("w") as handle:
        rc = subprocess.run(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
    if rc or not (out / "report.json").is_file():
        lines = [x for x in log.read_text().splitlines() if x.strip()]
        raise SystemExit(f"edgekit exited {rc}: {lines[-1] if lines else 'no output'} (log {log})")
    return json.loads((out / "report.json").read_text())


def points_of(report: dict, run: Path, model: str, compressed: str) -> list[dict]:
    """The verified .onnx files of a run: its FP32 baseline (or artifact, when nothing compressed) and its
    compressed artifact, with top-1 in onnxruntime, size and MACs."""
    rows = []
    for role in ("baseline", "artifacts"):
        for a in report.get(role) or []:
            if a["format"] != "onnx" or a.get("status") != "ok":
                continue
            fp32 = role == "baseline" or a["precision"] == "fp32" and not report.get("baseline")
            rows.append({"model": model, "variant": "FP32" if fp32 else compressed, "path": str(run / a["path"]),
                         "top1": (a.get("accuracy") or {}).get("top1"), "size_mb": round(a["size_bytes"] / 1e6, 2),
                         "mmacs": round(a["macs"] / 1e6, 1) if a.get("macs") else None,
                         "agreement": (a.get("fidelity") or {}).get("agreement"),
                         "eval_n": (a.get("accuracy") or {}).get("n")})
    return rows


def time_all(rows: list[dict], threads: int, runs: int, warmup: int) -> None:
    """p50 of every file, all interleaved in this process (edgekit.runtimes.worker.interleaved)."""
    import numpy as np

    from edgekit.bench.measure import example_input, interleaved
    from edgekit.runtimes import open_session

    sessions = [open_session(Path(r["path"]), threads) for r in rows]
    calls = [(lambda s=s, x=example_input(s): s.run(x)) for s in sessions]
    for r, (samples, _) in zip(rows, interleaved(calls, warmup, runs)):
        r.setdefault("p50_ms", {})[str(threads)] = round(float(np.median(samples)), 4)


def place_labels(fig, ax, xy: list[tuple[float, float]], labels: list[str]) -> int:
    """Annotate each point with the first offset whose text box overlaps no other label and no marker (or the
    least overlapping one); returns how many label boxes still overlap something."""
    renderer = fig.canvas.get_renderer()
    markers = [ax.transData.transform(p) for p in xy]
    radius = 6 * fig.dpi / 72
    marker_boxes = [(x - radius, y - radius, x + radius, y + radius) for x, y in markers]
    placed: list[tuple[float, float, float, float]] = []
    frame = ax.get_window_extent(renderer)
    left = 0

    def overlap(a, b) -> float:
        w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    for i, (point, label) in enumerate(zip(xy, labels)):
        best = None
        for offset, ha, va in OFFSETS:
            text = ax.annotate(label, point, xytext=offset, textcoords="offset points", ha=ha, va=va, fontsize=8)
            e = text.get_window_extent(renderer)
            box = (e.x0, e.y0, e.x1, e.y1)
            outside = (box[0] < frame.x0) + (box[2] > frame.x1) + (box[1] < frame.y0) + (box[3] > frame.y1)
            cost = sum(overlap(box, b) for b in placed) + sum(
                overlap(box, b) for j, b in enumerate(marker_boxes) if j != i) + 1e6 * outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box)
            else:
                text.remove()
            if cost == 0:
                break
        placed.append(best[2])
        left += int(best[0] > 0)
    return int(left)


def plot(rows: list[dict], path: Path, title: str, threads: str = "1") -> int:
    """Top-1 vs p50 (ms) at `threads`: FP32 files hollow, compressed ones filled, one colour per model, the
    Pareto front dashed; returns the number of labels that could not be placed without an overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgekit.bench.plots import pareto_front

    rows = [r for r in rows if r.get("top1") is not None and r.get("p50_ms", {}).get(threads)]
    xy = [(r["p50_ms"][threads], r["top1"]) for r in rows]
    models = list(dict.fromkeys(r["model"] for r in rows))
    colors = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(models)}
    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=130)
    front = pareto_front(xy)
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], ls="--", color="0.55", lw=1, zorder=1,
            label="Pareto front")
    for r, (x, y) in zip(rows, xy):
        fp32 = r["variant"] == "FP32"
        ax.scatter(x, y, s=55, zorder=3, linewidths=1.5, edgecolors=colors[r["model"]],
                   facecolors="white" if fp32 else colors[r["model"]])
    ax.margins(0.18)
    ax.set_xlabel(f"p50 latency per image, onnxruntime, {threads} thread{'' if threads == '1' else 's'} (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False,
              title="hollow: FP32 file, filled: compressed file (one colour per model)", title_fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    overlapping = place_labels(fig, ax, xy, [f"{r['model']} {r['variant']}" for r in rows])
    fig.savefig(path)
    plt.close(fig)
    return overlapping


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "pareto.json").write_text(json.dumps(results, indent=1) + "\n")
    host = results["machine"]
    lines = ["# Compress a big model or pick a small one?", "", results["label"], "",
             f"Reproduce: `{results['command']}`", "",
             f"Machine: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores. Every .onnx "
             f"timed interleaved in one process, {results['runs']} runs each; top-1 in onnxruntime on "
             f"{results['eval_n']} test images; on the Pareto front: no other file is both faster (1 thread) and "
             "more accurate.", "",
             "| model | variant | top-1 % | p50 1 thread ms | p50 2 threads ms | size MB | MMACs | Pareto front |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(results["rows"], key=lambda r: r["p50_ms"]["1"]):
        p50 = r["p50_ms"]
        lines.append(f"| {r['model']} | {r['variant']} | {r['top1']} | {p50['1']:.3f} | {p50.get('2', float('nan')):.3f} "
                     f"| {r['size_mb']:.2f} | {r['mmacs']} | {'yes' if r['front'] else ''} |")
    lines += ["", "![top-1 vs latency](pareto.png)", "",
              f"Labels overlapping something in the plot: {results['labels_overlapping']}.", ""]
    lines += [f"- `{k}`: `{v}`" for k, v in results["commands"].items()] + [""]
    (out / "pareto.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", default="effnet_lite0", help="the model to compress")
    parser.add_argument("--small", default="mbv3_small,mbv3_large,mbv4_conv_small", help="comma list to pick from")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--subset", type=int, default=6000, help="training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--recover-epochs", type=float, default=0.5)
    parser.add_argument("--qat-epochs", type=float, default=0.25)
    parser.add_argument("--eval-samples", type=int, default=None, help="cap on test images (default: all)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="keep runs already in --work, redo only the timing")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgekit-pareto"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--label", default="Full run.")
    args = parser.parse_args()
    from tiny_budget import machine

    env = dict(os.environ, EDGEKIT_CACHE=str(args.work / "cache"), PYTHONPATH=str(ROOT))
    common = ["--data", args.data, "--img-size", str(args.img_size), "--subset", str(args.subset), "--epochs",
              str(args.epochs), "--qat-epochs", str(args.qat_epochs), "--formats", "onnx", "--no-bench",
              "--seed", str(args.seed)] + (["--eval-samples", str(args.eval_samples)] if args.eval_samples else [])
    small = [m for m in args.small.split(",") if m]
    runs = [(m, "INT8", [m, "--int8", *common]) for m in [args.big, *small]]
    runs.append((args.big, f"prune {args.ratio:g} + KD + INT8",
                 [args.big, "--prune", str(args.ratio), "--recover-epochs", str(args.recover_epochs), "--int8",
                  *common]))
    say(f"{len(runs)} edgekit runs ({len(small) + 1} teachers); expect roughly {4 * len(runs)} min on 2 busy cores, "
        "then the timing")
    rows, commands = [], {}
    for model, variant, flags in runs:
        name = f"{model}-{'int8' if variant == 'INT8' else 'prune-int8'}"
        commands[name] = "edgekit compress " + " ".join(flags)
        report = compress(flags, args.work / name, env, args.reuse)
        got = points_of(report, args.work / name, model, variant)
        rows += [r for r in got if r["variant"] != "FP32" or not any(
            o["model"] == model and o["variant"] == "FP32" for o in rows)]  # one FP32 point per model
    for threads in (1, 2):
        say(f"timing {len(rows)} files interleaved, {threads} thread(s), {args.runs} runs each")
        time_all(rows, threads, args.runs, args.warmup)
    from edgekit.bench.plots import pareto_front

    front = set(pareto_front([(r["p50_ms"]["1"], r["top1"]) for r in rows]))
    for i, r in enumerate(rows):
        r["front"] = i in front
    argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--label" and (i == 0 or sys.argv[i] != "--label")]
    results = {"label": args.label, "command": " ".join(["python", "benchmarks/pareto.py", *argv]),
               "machine": machine(), "runs": args.runs, "eval_n": rows[0]["eval_n"],
               "commands": commands, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    results["labels_overlapping"] = plot(rows, args.out / "pareto.png",
                                         f"{args.data} at {args.img_size} px: compress {args.big} or pick a smaller "
                                         "model?")
    write(results, args.out)
    print((args.out / "pareto.md").read_text())


if __name__ == "__main__":
    main()
