"""Headline table: per model, the FP32 teacher, prune + KD, INT8 QAT and prune + KD + INT8, in every runtime.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/headline.py                  # the six headline models
    .venv/bin/python benchmarks/headline.py --models effnet_lite0 --subset 6000 --epochs 2 --reuse

Per model, three edgekit runs share one cache, so the teacher trains once and is pruned and distilled once:

  int8        MODEL --int8 qat                  -> the FP32 teacher's files (baseline) and its INT8 QAT files
  prune       MODEL --prune R --no-int8         -> the pruned + distilled FP32 files
  prune-int8  MODEL --prune R --int8 qat        -> the pruned + distilled + INT8 QAT files

first at --img-size, trained on --data: top-1 in each runtime on the test split and each file's top-1 agreement
with its PyTorch reference (FP32, or the int8 model) come from edgekit's own verification; then at --speed-size
(224 px) with untrained weights, for latency only. Weights do not change the architecture: edgekit prunes every
layer by the same ratio and rounds widths to 8, so the 224 px files have the trained files' widths (the JSON's
`same_widths` records whether each file's parameter count matches; it cannot for models whose position
embeddings grow with the input size). Every file of one size is then timed
here, all twelve interleaved in one process at 1 thread (and --threads), and each p50 is divided into the FP32
ONNX file's, with a 95% bootstrap interval. Writes benchmarks/results/headline.{md,json,png} with the CPU's name
and SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from pareto import compress, say
from tiny_budget import machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = "effnet_lite0,effnet_b0,mbv3_large,mobilevit_xs,resnet18,deit_tiny"
FORMATS = ("onnx", "tflite", "pte")
RUNTIME = {"onnx": "onnxruntime", "tflite": "LiteRT", "pte": "ExecuTorch"}
VARIANTS = ("FP32 teacher", "prune + KD", "INT8 QAT", "prune + KD + INT8")
#: variant -> (edgekit run, report role) that ships its files
SOURCE = {"FP32 teacher": ("int8", "baseline"), "prune + KD": ("prune", "artifacts"),
          "INT8 QAT": ("int8", "artifacts"), "prune + KD + INT8": ("prune-int8", "artifacts")}


def run_flags(args, speed: bool) -> dict[str, list[str]]:
    """The three edgekit runs' flags, trained (speed=False) or untrained at --speed-size (speed=True)."""
    if speed:
        common = ["--data", args.data, "--img-size", str(args.speed_size), "--subset", "256", "--epochs", "0",
                  "--eval-samples", "64", "--min-agreement-fp32", "0",
                  "--min-agreement-int8", "0", "--parity-atol", "1e6"]
        int8, recover = ["--int8", "ptq", "--calib-samples", "32"], []  # an untrained teacher: nothing to recover
    else:
        common = ["--data", args.data, "--img-size", str(args.img_size), "--epochs", str(args.epochs)]
        common += ["--subset", str(args.subset)] if args.subset else []
        common += ["--eval-samples", str(args.eval_samples)] if args.eval_samples else []
        int8, recover = ["--int8", "qat", "--qat-epochs", str(args.qat_epochs), "--calib-samples",
                         str(args.calib_samples)], \
            ["--recover-epochs", str(args.recover_epochs)]
    common += ["--formats", ",".join(FORMATS), "--no-bench", "--seed", str(args.seed)]
    prune = ["--prune", str(args.ratio), *recover]
    return {"int8": [*int8, *common], "prune": [*prune, "--no-int8", *common], "prune-int8": [*prune, *int8, *common]}


def files_of(name: str, args, env: dict, speed: bool) -> tuple[list[dict], dict[str, str]]:
    """Run (or reuse) the three edgekit runs of one model at one size; one row per (variant, format)."""
    tag = f"{args.speed_size}px" if speed else f"{args.img_size}px"
    reports, commands = {}, {}
    for run, flags in run_flags(args, speed).items():
        out = args.work / name / f"{run}-{tag}"
        commands[f"{run} ({tag})"] = "edgekit compress " + " ".join([name, *flags])
        reports[run] = (compress([name, *flags], out, env, args.reuse), out)
    rows = []
    for variant in VARIANTS:
        run, role = SOURCE[variant]
        report, out = reports[run]
        for a in report.get(role) or []:
            if a["format"] not in FORMATS or a.get("status") != "ok":
                continue
            rows.append({"variant": variant, "format": a["format"], "runtime": RUNTIME[a["format"]],
                         "path": str(out / a["path"]), "size_mb": round(a["size_bytes"] / 1e6, 2),
                         "params": a.get("params"), "mmacs": round(a["macs"] / 1e6, 1) if a.get("macs") else None,
                         "top1": (a.get("accuracy") or {}).get("top1"), "eval_n": (a.get("accuracy") or {}).get("n"),
                         "agreement": (a.get("fidelity") or {}).get("agreement")})
    return rows, commands


def time_together(rows: list[dict], threads: int, args) -> None:
    """p50 of every file, all interleaved in this process; speed-up against the FP32 teacher's ONNX file."""
    from edgekit.bench.measure import example_input, interleaved, summarize
    from edgekit.bench.stats import speedup_with_ci
    from edgekit.runtimes import open_session

    sessions = [open_session(Path(r["path"]), threads) for r in rows]
    calls = [(lambda s=s, x=example_input(s): s.run(x)) for s in sessions]
    results = interleaved(calls, args.warmup, args.runs, min_seconds=args.min_seconds)
    base = next(res for r, res in zip(rows, results) if r["variant"] == VARIANTS[0] and r["format"] == "onnx")
    for r, (samples, _) in zip(rows, results):
        r.setdefault("p50_ms", {})[str(threads)] = summarize(samples)["p50"]
        r.setdefault("speedup", {})[str(threads)] = speedup_with_ci(samples, base[0])
    del sessions, calls


def one_model(name: str, args, env: dict) -> dict:
    record: dict = {"model": name, "img_size": args.img_size, "speed_size": args.speed_size, "commands": {}}
    for speed in (False, True):
        size = "speed" if speed else "trained"
        rows, commands = files_of(name, args, env, speed)
        record["commands"].update(commands)
        for threads in args.threads:
            say(f"{name}: timing {len(rows)} files at {args.speed_size if speed else args.img_size} px interleaved, "
                f"{threads} thread(s), {args.runs} runs each")
            time_together(rows, threads, args)
        record[size] = rows
    widths = {(r["variant"], r["format"]): r["params"] for r in record["trained"]}
    record["same_widths"] = {f"{r['variant']} {r['format']}": widths.get((r["variant"], r["format"])) == r["params"]
                             for r in record["speed"]}
    return record


def check(record: dict) -> dict:
    """The issue's figures for one model: prune + KD + INT8 ONNX vs the FP32 ONNX, top-1 drop at the trained size
    and p50 speed-up (1 thread) at the speed size; the lowest INT8 agreement with its PyTorch reference."""
    def pick(rows, variant):
        return next((r for r in rows if r["variant"] == variant and r["format"] == "onnx"), None)

    fp32, chain = pick(record["trained"], VARIANTS[0]), pick(record["trained"], VARIANTS[3])
    fast = pick(record["speed"], VARIANTS[3])
    int8 = [r["agreement"] for r in record["trained"] if "INT8" in r["variant"] and r["agreement"] is not None]
    return {"top1_drop": round(fp32["top1"] - chain["top1"], 2) if fp32 and chain else None,
            "speedup_speed_size": fast["speedup"]["1"] if fast else None,
            "min_int8_agreement": min(int8) if int8 else None}


def table(record: dict) -> list[str]:
    t, s = record["img_size"], record["speed_size"]
    lines = [f"### {record['model']}", "",
             f"| variant | runtime | top-1 % ({t} px) | agreement % | size MB | MMACs ({t} px) | p50 ms ({t} px) "
             f"| speed-up ({t} px) | p50 ms ({s} px) | speed-up ({s} px) |", "|---|---|---|---|---|---|---|---|---|---|"]
    fast = {(r["variant"], r["format"]): r for r in record["speed"]}
    for r in record["trained"]:
        f = fast.get((r["variant"], r["format"]), {})
        cells = []
        for x in (r, f):
            sp = x.get("speedup", {}).get("1")
            cells += [f"{x['p50_ms']['1']:.3f}" if x.get("p50_ms") else "-",
                      f"{sp['speedup']:.2f}× [{sp['ci'][0]:.2f}, {sp['ci'][1]:.2f}]" if sp else "-"]
        lines.append(f"| {r['variant']} | {r['runtime']} | {r['top1']} | {r['agreement']} | {r['size_mb']:.2f} | "
                     f"{r['mmacs']} | {' | '.join(cells)} |")
    c = record["check"]
    lines += ["", f"prune + KD + INT8 ONNX vs the FP32 ONNX: top-1 drop {c['top1_drop']} points at {t} px, "
              f"p50 speed-up {c['speedup_speed_size']['speedup']:.2f}× at {s} px (1 thread); lowest INT8 agreement "
              f"with its PyTorch reference: {c['min_int8_agreement']}%.", ""]
    return lines


def plot(results: dict, path: Path) -> None:
    """Speed-up over the FP32 ONNX file at the speed size, 1 thread: one panel per runtime, bars per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m["model"] for m in results["models"]]
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), dpi=120, sharey=True)
    width = 0.8 / len(VARIANTS)
    for ax, fmt in zip(axes, FORMATS):
        for k, variant in enumerate(VARIANTS):
            ys = [next((r["speedup"]["1"]["speedup"] for r in m["speed"] if r["variant"] == variant
                        and r["format"] == fmt), 0) for m in results["models"]]
            ax.bar([i + (k - 1.5) * width for i in range(len(models))], ys, width, label=variant)
        ax.axhline(1, color="0.4", lw=0.8)
        ax.set_title(RUNTIME[fmt], fontsize=10)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(f"speed-up over the FP32 ONNX file\n({results['speed_size']} px, 1 thread)")
    axes[-1].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "headline.json").write_text(json.dumps(results, indent=1) + "\n")
    host = results["machine"]
    t, s = results["img_size"], results["speed_size"]
    lines = ["# Headline table", "", results["label"], "", f"Reproduce: `{results['command']}`", "",
             f"Machine: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores. Top-1 in each "
             f"runtime on the test split at {t} px (trained); agreement: share of those images whose top-1 equals "
             f"the file's PyTorch reference (the int8 model for INT8 files). Latency: p50 of {results['runs']} runs, "
             f"1 thread, the twelve files of one model and size interleaved in one process; speed-up: the FP32 "
             f"ONNX file's p50 over the row's, 95% bootstrap interval. The {s} px files are the same architectures "
             "with untrained weights (latency only).", "",
             "| model | FP32 ONNX top-1 % | prune + KD + INT8 ONNX top-1 % | drop | speed-up, ONNX " f"{s} px "
             "| lowest INT8 agreement % |", "|---|---|---|---|---|---|"]
    for m in results["models"]:
        c, rows = m["check"], {(r["variant"], r["format"]): r for r in m["trained"]}
        sp = c["speedup_speed_size"]
        lines.append(f"| {m['model']} | {rows[(VARIANTS[0], 'onnx')]['top1']} | {rows[(VARIANTS[3], 'onnx')]['top1']} "
                     f"| {c['top1_drop']} | {sp['speedup']:.2f}× [{sp['ci'][0]:.2f}, {sp['ci'][1]:.2f}] | "
                     f"{c['min_int8_agreement']} |")
    lines += ["", "![speed-up over the FP32 ONNX file](headline.png)", ""]
    for m in results["models"]:
        lines += table(m)
        lines += [f"- `{k}`: `{v}`" for k, v in m["commands"].items()] + [""]
    (out / "headline.md").write_text("\n".join(lines) + "\n")


def estimate(args, n: int) -> str:
    """A rough guess for 2 busy cores (effnet_lite0 at 64 px here: ~1 min per training epoch on 6,000 images,
    ~3x per QAT epoch, ~2 ms per image per file to evaluate, a few minutes of exports per size)."""
    epoch = 60 * (args.subset or 60000) / 6000 * (args.img_size / 64) ** 2
    per = epoch * (args.epochs + 2.3 * args.recover_epochs + 6 * args.qat_epochs) + 12 * 2 * (
        args.eval_samples or 10000) * 0.002 + 2 * 240 + 2 * 12 * len(args.threads) * args.runs * 0.01
    return f"about {math.ceil(n * per / 60)} min for {n} model(s) (a rough guess for 2 busy cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS, help="comma list")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--img-size", type=int, default=64, help="training and accuracy size")
    parser.add_argument("--speed-size", type=int, default=224, help="latency-only size (untrained weights)")
    parser.add_argument("--subset", type=int, default=None, help="cap on training images")
    parser.add_argument("--epochs", type=int, default=5, help="teacher epochs")
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--recover-epochs", type=float, default=1.5)
    parser.add_argument("--qat-epochs", type=float, default=0.5)
    parser.add_argument("--calib-samples", type=int, default=256)
    parser.add_argument("--eval-samples", type=int, default=None, help="cap on test images (default: all)")
    parser.add_argument("--threads", default="1", help="comma list of thread counts to time")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="keep runs already in --work, redo only the timing")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgekit-headline"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--label", default="Full run.")
    args = parser.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    models = [m for m in args.models.split(",") if m]
    env = dict(os.environ, EDGEKIT_CACHE=str(args.work / "cache"), PYTHONPATH=str(ROOT))
    say(f"{len(models)} model(s) x 4 variants x 3 formats at 2 sizes; expect {estimate(args, len(models))}")
    argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--label" and (i == 0 or sys.argv[i] != "--label")]
    results = {"label": args.label, "command": " ".join(["python", "benchmarks/headline.py", *argv]),
               "machine": machine(), "runs": args.runs, "img_size": args.img_size, "speed_size": args.speed_size,
               "options": vars(args) | {"work": str(args.work), "out": str(args.out)}, "models": []}
    for name in models:
        record = one_model(name, args, env)
        record["check"] = check(record)
        results["models"].append(record)
        write(results, args.out)
        plot(results, args.out / "headline.png")
        say(f"{name}: done ({record['check']})")
    print((args.out / "headline.md").read_text())


if __name__ == "__main__":
    main()
