"""What dynamic convolution costs: MACs, params and p50 latency of each DynamicConv model against its static twin.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dynamic_conv.py                       # all pairs, 3 formats, 224 px
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dynamic_conv.py --pairs dy_mbv3_small:mbv3_small \\
        --formats onnx --runs 30                                                         # a reduced run

For each pair (edgekit.models.families.dynamic_conv vs the timm model it is built from), both FP32 models
(random weights, 1000 classes) are exported with edgekit's exporters and loaded in each runtime at 1 thread; the
two files of a format are timed in ONE process, interleaved (A B, B A … rounds), so drift and neighbours' load hit
both alike: only the ratio means anything on a shared machine. MACs are edgekit.models.complexity's count (the
dynamic layers' attention, kernel aggregation and per-image convolution included). Writes
benchmarks/results/dynamic_conv.{json,md} (--out).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAIRS = "dy_mbv3_small:mbv3_small,dy_mbv3_large:mbv3_large,dy_resnet18:resnet18"
LOADERS = {"onnx": "load_onnx", "tflite": "load_tflite", "pte": "load_pte"}


def bench_pair(dynamic: str, static: str, img_size: int, formats: list[str], runs: int, folder: Path) -> dict:
    import torch

    from edgekit.core.formats import FORMATS
    from edgekit.exporters import export
    from edgekit.models.build import create
    from edgekit.models.complexity import count_macs, count_params
    from edgekit.models.zoo import resolve
    from edgekit.runtimes import worker

    torch.manual_seed(0)
    models = {role: create(resolve(name), 1000, img_size).eval() for role, name in (("dynamic", dynamic),
                                                                                    ("static", static))}
    row = {"dynamic": dynamic, "static": static, "img_size": img_size,
           **{f"params_{r}": count_params(m) for r, m in models.items()},
           **{f"macs_{r}": count_macs(m, img_size) for r, m in models.items()}, "formats": {}}
    example = torch.randn(1, 3, img_size, img_size)
    with torch.no_grad():
        expected = {r: m(example).numpy() for r, m in models.items()}
    for fmt in formats:
        spec, loaded, entry = FORMATS.get(fmt), {}, {}
        for role, model in models.items():
            path = folder / f"{role}-{models[role].__class__.__name__}{spec.suffix}"
            start = time.perf_counter()
            result = export(spec, model, example, path)
            entry[f"export_seconds_{role}"] = round(time.perf_counter() - start, 1)
            entry[f"size_bytes_{role}"] = path.stat().st_size
            entry[f"fallback_ops_{role}"] = result.fallback_ops
            loaded[role] = getattr(worker, LOADERS[fmt])(str(path), 1)
            got = loaded[role].run(example.numpy())
            entry[f"max_abs_diff_{role}"] = float(abs(got - expected[role]).max())
        timings = worker.time_loaded([loaded["dynamic"], loaded["static"]], warmup=3, runs=runs)
        for role, (samples, _) in zip(("dynamic", "static"), timings):
            entry[f"p50_ms_{role}"] = round(sorted(samples)[len(samples) // 2], 3)
        entry["runs_each"] = len(timings[0][0])
        entry["latency_ratio"] = round(entry["p50_ms_dynamic"] / entry["p50_ms_static"], 3)
        row["formats"][fmt] = entry
        print(json.dumps({"pair": f"{dynamic}:{static}", "format": fmt, "p50_ms_dynamic": entry["p50_ms_dynamic"],
                          "p50_ms_static": entry["p50_ms_static"], "ratio": entry["latency_ratio"]}), flush=True)
    return row


def markdown(rows: list[dict], env: dict) -> str:
    lines = ["# Dynamic convolution: cost against the static model (FP32, 1 thread)\n",
             f"CPU: {env.get('cpu')} · torch {env.get('torch')} · each format's dynamic and static files timed "
             "interleaved in one process; only the ratios compare\n",
             "| dynamic | static | px | params M (dyn / static) | MMACs (dyn / static) | format | p50 ms dyn | "
             "p50 ms static | latency ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for fmt, e in r["formats"].items():
            lines.append(f"| {r['dynamic']} | {r['static']} | {r['img_size']} | {r['params_dynamic'] / 1e6:.2f} / "
                         f"{r['params_static'] / 1e6:.2f} | {r['macs_dynamic'] / 1e6:.1f} / "
                         f"{r['macs_static'] / 1e6:.1f} | {fmt} | {e['p50_ms_dynamic']:.2f} | {e['p50_ms_static']:.2f} | "
                         f"{e['latency_ratio']:.2f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=PAIRS, help="DYNAMIC:STATIC model pairs, comma-separated")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--formats", default="onnx,tflite,pte")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per file")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    from edgekit.bench.environment import environment

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in args.pairs.split(","):
            dynamic, static = pair.split(":")
            folder = Path(tmp) / dynamic
            folder.mkdir()
            rows.append(bench_pair(dynamic, static, args.img_size, args.formats.split(","), args.runs, folder))
    env = environment(1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dynamic_conv.json").write_text(json.dumps({"env": env, "args": vars(args) | {"out": str(args.out)},
                                                            "results": rows}, indent=2) + "\n")
    (args.out / "dynamic_conv.md").write_text(markdown(rows, env))


if __name__ == "__main__":
    main()
