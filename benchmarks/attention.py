"""When does efficient attention pay off on edge inputs? Linformer and Performer against softmax attention.

    .venv/bin/python benchmarks/attention.py                              # deit_tiny at 224/384/512, all 3 runtimes
    .venv/bin/python benchmarks/attention.py --formats onnx --runs 10     # a reduced run
    .venv/bin/python benchmarks/attention.py --models deit_tiny,t2t_vit_7 --accuracy   # + top-1 after distillation

Latency and memory: per model and input size (224, 384, 512 px: 197 to 1025 tokens at patch 16), one model is
built, copied, and its copies' attention swapped (edgekit.models.attention: same weights, same heads), so the three
files differ only in their attention. Each is exported with edgekit's exporters, verified against PyTorch in its
runtime (max |logit difference| on one random image), then the three files of a runtime are timed interleaved in
ONE process at 1 thread (A B C, C B A rounds), p50 reported with the ratio to softmax. Peak memory is the peak
resident set of a fresh child process that only imports the runtime, loads the file and runs it (what an app
pays), and MACs come from torch's flop counter.

Accuracy (--accuracy, optional and slow on a CPU): `edgekit compress MODEL --attention K` on Fashion-MNIST at a
small size: the softmax teacher is trained (once; the cache shares it), each student starts from it with swapped
attention and recovers by distillation; the run's report gives the teacher's and the student's top-1 (PyTorch and
each exported file). Writes benchmarks/results/attention.{json,md} and attention.png.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("softmax", "linformer", "performer")


def build(name: str, px: int, projected: int | None, features: int) -> dict:
    """The model at `px` with each attention (same weights), and its MACs/params."""
    import torch

    from edgekit.models.attention import swap_attention
    from edgekit.models.build import create
    from edgekit.models.complexity import count_macs, count_params
    from edgekit.models.zoo import resolve

    torch.manual_seed(0)
    base = create(resolve(name), 1000, px).eval()
    models = {"softmax": base}
    settings = {"softmax": None}
    for kind in KINDS[1:]:
        model = copy.deepcopy(base)
        edit = swap_attention(model, kind, px, projected=projected, features=features, name=name)
        models[kind] = model.eval()
        first = next(iter(edit["layers"].values()))
        settings[kind] = first
    tokens = settings["linformer"]["tokens"]
    return {"models": models, "settings": settings, "tokens": tokens,
            "macs": {k: count_macs(m, px) for k, m in models.items()},
            "params": {k: count_params(m) for k, m in models.items()}}


def export_and_verify(model, px: int, fmt: str, path: Path) -> dict:
    """Export with edgekit's exporter, run the file in its runtime on one image, compare with PyTorch."""
    import torch

    from edgekit.exporters import export
    from edgekit.runtimes.base import open_session

    x = torch.randn(1, 3, px, px, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    try:
        export(fmt, model, x, path)
    except Exception as exc:  # noqa: BLE001 - a failed export is a result of this benchmark
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    export_s = time.perf_counter() - start
    with torch.no_grad():
        expected = model(x).numpy()
    got = open_session(path, threads=1, format_name=fmt).run(x.numpy())
    diff = float(abs(got - expected).max())
    return {"ok": diff < 1e-3, "max_abs_diff": diff, "export_s": round(export_s, 1),
            "size_mb": round(path.stat().st_size / 2**20, 2)}


def time_files(paths: dict[str, Path], fmt: str, runs: int, warmup: int) -> dict[str, dict]:
    """The files of one runtime timed interleaved in this process (1 thread): p50/p90 ms."""
    import numpy as np

    from edgekit.runtimes.worker import LOADERS, example_input, interleaved

    loaded = {k: LOADERS[fmt](str(p), 1) for k, p in paths.items()}
    calls = []
    for item in loaded.values():
        x = example_input(item.input_shape)
        calls.append(lambda item=item, x=x: item.run(x))
    results = interleaved(calls, warmup, runs)
    return {k: {"p50_ms": round(float(np.percentile(s, 50)), 3), "p90_ms": round(float(np.percentile(s, 90)), 3),
                "runs": len(s)} for k, (s, _) in zip(loaded, results)}


def peak_memory(path: Path, fmt: str) -> float | None:
    """Peak RSS (MiB) of a child process that imports the runtime, loads the file and runs it twice."""
    from edgekit.runtimes.isolated import probe

    try:
        return probe(path, fmt, threads=1, runs=2)["peak_rss_mb"]
    except Exception:  # noqa: BLE001 - reported as unmeasured
        return None


def latency_rows(names: list[str], sizes: list[int], formats: list[str], args) -> list[dict]:
    rows = []
    for name in names:
        for px in sizes:
            built = build(name, px, args.linformer_k, args.performer_features)
            with tempfile.TemporaryDirectory() as tmp:
                for fmt in formats:
                    suffix = {"onnx": ".onnx", "tflite": ".tflite", "pte": ".pte"}[fmt]
                    paths, checks = {}, {}
                    for kind, model in built["models"].items():
                        path = Path(tmp) / f"{name}_{px}_{kind}{suffix}"
                        checks[kind] = export_and_verify(model, px, fmt, path)
                        if checks[kind].get("max_abs_diff") is not None:
                            paths[kind] = path
                    timing = time_files(paths, fmt, args.runs, args.warmup) if paths else {}
                    for kind in KINDS:
                        row = {"model": name, "img_size": px, "tokens": built["tokens"], "format": fmt,
                               "attention": kind, "settings": built["settings"][kind],
                               "macs": built["macs"][kind], "params": built["params"][kind], **checks[kind],
                               **timing.get(kind, {})}
                        if kind in paths:
                            row["peak_rss_mb"] = peak_memory(paths[kind], fmt)
                        if kind in timing and "softmax" in timing:
                            row["speedup_vs_softmax"] = round(timing["softmax"]["p50_ms"] / timing[kind]["p50_ms"], 3)
                        rows.append(row)
                        print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
    return rows


def accuracy_rows(names: list[str], args) -> list[dict]:
    """compress MODEL --attention K per kind on Fashion-MNIST: teacher and student top-1 from each run's report."""
    rows = []
    for name in names:
        for kind in KINDS[1:]:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "run"
                extra = (["--linformer-k", str(args.acc_linformer_k)] if kind == "linformer" else
                         ["--performer-features", str(args.performer_features)])
                command = [sys.executable, "-m", "edgekit", "compress", name, "--data", "fashion-mnist",
                           "--img-size", str(args.acc_img_size), "--subset", str(args.acc_subset),
                           "--epochs", str(args.acc_epochs), "--attention", kind, *extra,
                           "--formats", ",".join(args.formats), "--no-bench", "--out", str(out)]
                start = time.perf_counter()
                proc = subprocess.run(command, capture_output=True, text=True)
                seconds = round(time.perf_counter() - start, 1)
                if proc.returncode != 0:
                    rows.append({"model": name, "attention": kind, "error": proc.stderr.strip().splitlines()[-1:]})
                    continue
                report = json.loads((out / "report.json").read_text())
            files = {a["format"]: {"top1": (a.get("accuracy") or {}).get("top1"),
                                   "parity_max_abs_diff": (a.get("parity") or {}).get("max_abs_diff"),
                                   "status": a["status"]} for a in report["artifacts"]}
            rows.append({"model": name, "attention": kind, "img_size": args.acc_img_size,
                         "subset": args.acc_subset, "epochs": args.acc_epochs, "seconds": seconds,
                         "settings": report.get("attention"),
                         "teacher_top1": report["baseline_accuracy_pytorch"]["top1"],
                         "student_top1": report["accuracy_pytorch"]["top1"], "files": files, "ok": report["ok"]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(result: dict) -> str:
    env = result["env"]
    lines = ["# Efficient attention: Linformer and Performer vs softmax attention\n",
             f"CPU: {env['cpu']} ({' '.join(env['flags'])}) · 1 thread · torch {env['torch']} · "
             f"{result['command']}\n",
             "Per runtime, the three files of a model and size are timed interleaved in one process; speed-up = "
             "softmax p50 / p50. Peak RSS: a fresh process that loads and runs the file (ExecuTorch's Python "
             "runtime imports torch, hence its size). Parity: max |logit difference| vs PyTorch on one image. "
             f"Linformer k = {result['settings']['linformer_k']}, Performer {result['settings']['performer_features']}"
             " random features per head. Tokens: those of the first swapped layer (for T2T-ViT its first token "
             "layer; its backbone has 1/16 as many).\n",
             "| model | px | tokens | runtime | attention | MMACs | p50 ms | speed-up | peak RSS MiB | parity | "
             "export s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = {"onnx": 0, "tflite": 1, "pte": 2}
    for r in sorted(result["latency"], key=lambda r: (r["model"], r["img_size"], order.get(r["format"], 9),
                                                      KINDS.index(r["attention"]))):
        lines.append(f"| {r['model']} | {r['img_size']} | {r['tokens']} | {r['format']} | {r['attention']} | "
                     f"{r['macs'] / 1e6:.0f} | {r.get('p50_ms', '-')} | {r.get('speedup_vs_softmax', '-')} | "
                     f"{r.get('peak_rss_mb', '-')} | "
                     f"{'%.1e' % r['max_abs_diff'] if 'max_abs_diff' in r else r.get('error', '-')} | "
                     f"{r.get('export_s', '-')} |")
    if result.get("accuracy"):
        lines += ["", "## Top-1 after distillation (Fashion-MNIST)", "",
                  "| model | px | attention | epochs | images | teacher top-1 | student top-1 | files (top-1) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result["accuracy"]:
            if "error" in r:
                lines.append(f"| {r['model']} | - | {r['attention']} | - | - | - | failed: {r['error']} | - |")
                continue
            files = ", ".join(f"{f} {v['top1']}" for f, v in r["files"].items())
            lines.append(f"| {r['model']} | {r['img_size']} | {r['attention']} | {r['epochs']} | {r['subset']} | "
                         f"{r['teacher_top1']:.2f} | {r['student_top1']:.2f} | {files} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(r["model"], r["format"]) for r in rows})
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, (model, fmt) in zip(axes[0], keys):
        for kind in KINDS:
            points = sorted((r["tokens"], r["p50_ms"]) for r in rows
                            if (r["model"], r["format"], r["attention"]) == (model, fmt, kind) and "p50_ms" in r)
            if points:
                ax.plot(*zip(*points), marker="o", label=kind)
        ax.set(title=f"{model} · {fmt}", xlabel="tokens", ylabel="p50 ms (1 thread)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def merge(result: dict, earlier: dict) -> None:
    """Rows of `earlier` this run did not measure are kept (its own rows replace theirs); commands are listed."""
    for part, key in (("latency", ("model", "img_size", "format", "attention")), ("accuracy", ("model", "attention"))):
        measured = {tuple(r.get(k) for k in key) for r in result[part]}
        kept = [r for r in earlier.get(part, []) if tuple(r.get(k) for k in key) not in measured]
        result[part] = kept + result[part]
    result["command"] = "; ".join(dict.fromkeys([*earlier.get("command", "").split("; "), result["command"]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="deit_tiny")
    parser.add_argument("--sizes", default="224,384,512")
    parser.add_argument("--formats", default="onnx,tflite,pte")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--linformer-k", type=int, default=None, help="default: min(64, tokens)")
    parser.add_argument("--performer-features", type=int, default=128)
    parser.add_argument("--no-latency", action="store_true", help="only the accuracy part")
    parser.add_argument("--accuracy", action="store_true", help="also top-1 after distillation (slow)")
    parser.add_argument("--acc-img-size", type=int, default=64)
    parser.add_argument("--acc-subset", type=int, default=2000)
    parser.add_argument("--acc-epochs", type=int, default=2)
    parser.add_argument("--acc-linformer-k", type=int, default=8, help="at 64 px there are 17 tokens")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--merge", action="store_true", help="keep the rows of an earlier attention.json that this "
                        "run does not measure (other runtimes or sizes)")
    args = parser.parse_args()
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    names = [n.strip() for n in args.models.split(",") if n.strip()]

    import torch

    from edgekit.runtimes.worker import cpu_info

    torch.set_num_threads(1)
    cpu, flags = cpu_info()
    result = {"env": {"cpu": cpu, "flags": flags, "torch": torch.__version__, "threads": 1},
              "command": "benchmarks/attention.py " + " ".join(sys.argv[1:]), "latency": [], "accuracy": [],
              "settings": {"linformer_k": args.linformer_k or "min(64, tokens)",
                           "performer_features": args.performer_features}}
    if not args.no_latency:
        result["latency"] = latency_rows(names, [int(s) for s in args.sizes.split(",")], args.formats, args)
    if args.accuracy:
        result["accuracy"] = accuracy_rows(names, args)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.merge and (args.out / "attention.json").is_file():
        merge(result, json.loads((args.out / "attention.json").read_text()))
    (args.out / "attention.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "attention.md").write_text(markdown(result))
    if result["latency"]:
        plot(result["latency"], args.out / "attention.png")
    print(f"wrote {args.out / 'attention.md'}")


if __name__ == "__main__":
    main()
