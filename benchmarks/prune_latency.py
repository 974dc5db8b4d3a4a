"""Does --prune pay off on the CPU? MACs and onnxruntime latency (1 thread) before/after structured pruning.

    .venv/bin/python benchmarks/prune_latency.py                     # the issue's models at their default size
    .venv/bin/python benchmarks/prune_latency.py --models resnet18 --ratio 0.5

For each model: prune a copy with edgekit's engine (L2, uniform, widths rounded to 8), export baseline and pruned
model to ONNX with edgekit's exporter, then time both in ONE process, interleaved (A B B A … rounds) so that
drift and neighbours' load hit both alike. Writes benchmarks/results/prune_latency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = "effnet_lite0,mbv3_large,resnet18,mobilevit_xs,deit_tiny"
# done-when numbers of issue #3 at ratio 0.3: MAC ratio ceiling, and the p50 speed-up floor where one applies
GOALS = {"effnet_lite0": (0.55, 1.6), "mbv3_large": (0.55, 1.6), "resnet18": (0.55, 1.6), "mobilevit_xs": (0.6, None),
         "deit_tiny": (0.6, None)}


def bench_one(name: str, ratio: float, runs: int, rounds: int) -> dict:
    import torch

    from edgekit.models.build import create
    from edgekit.models.complexity import count_macs, count_params
    from edgekit.models.zoo import resolve
    from edgekit.pruning import PruneConfig, prune
    from edgekit.pruning.latency import measure

    spec = resolve(name)
    torch.manual_seed(0)
    base = create(spec, 1000, spec.img_size).eval()
    pruned = create(spec, 1000, spec.img_size).eval()
    pruned.load_state_dict(base.state_dict())
    start = time.perf_counter()
    prune(pruned, PruneConfig(ratio), torch.randn(1, 3, spec.img_size, spec.img_size))
    prune_s = time.perf_counter() - start
    macs0, macs1 = count_macs(base, spec.img_size), count_macs(pruned, spec.img_size)
    lat = measure({"baseline": base, "pruned": pruned}, spec.img_size, runs=runs, rounds=rounds)
    speedup = lat["baseline"]["p50"] / lat["pruned"]["p50"]
    mac_goal, speed_goal = GOALS.get(name, (None, None))
    return {"model": name, "img_size": spec.img_size, "ratio": ratio, "prune_seconds": round(prune_s, 1),
            "params_before": count_params(base), "params_after": count_params(pruned),
            "macs_before": macs0, "macs_after": macs1, "macs_ratio": round(macs1 / macs0, 4),
            "p50_before_ms": lat["baseline"]["p50"], "p50_after_ms": lat["pruned"]["p50"],
            "p90_before_ms": lat["baseline"]["p90"], "p90_after_ms": lat["pruned"]["p90"],
            "runs_each": lat["baseline"]["runs"], "speedup_p50": round(speedup, 3),
            "goal_macs_ratio": mac_goal, "goal_speedup": speed_goal,
            "meets_goal": (mac_goal is None or macs1 / macs0 <= mac_goal) and (speed_goal is None or speedup >= speed_goal)}


def markdown(rows: list[dict], env: dict) -> str:
    lines = ["# Structured pruning: MACs and onnxruntime latency (1 thread)\n",
             f"CPU: {env.get('cpu')} · onnxruntime {env.get('onnxruntime', '?')} · torch {env.get('torch')} · "
             "baseline and pruned timed interleaved in one process\n",
             "| model | px | ratio | params M | MMACs | MAC ratio | p50 ms before | p50 ms after | speed-up | goal | met |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        goal = f"≤{r['goal_macs_ratio']}× MACs" + (f", ≥{r['goal_speedup']}×" if r["goal_speedup"] else "") \
            if r["goal_macs_ratio"] else "-"
        lines.append(f"| {r['model']} | {r['img_size']} | {r['ratio']} | {r['params_before'] / 1e6:.2f} → "
                     f"{r['params_after'] / 1e6:.2f} | {r['macs_before'] / 1e6:.0f} → {r['macs_after'] / 1e6:.0f} | "
                     f"{r['macs_ratio']:.3f} | {r['p50_before_ms']:.2f} | {r['p50_after_ms']:.2f} | "
                     f"{r['speedup_p50']:.2f}× | {goal} | {'yes' if r['meets_goal'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=DEFAULT)
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=300, help="timed runs per model, split over the rounds")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    from edgekit.bench.environment import environment

    rows = []
    for name in args.models.split(","):
        row = bench_one(name, args.ratio, args.runs, args.rounds)
        print(json.dumps({k: row[k] for k in ("model", "macs_ratio", "p50_before_ms", "p50_after_ms", "speedup_p50")}),
              flush=True)
        rows.append(row)
    env = environment(1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prune_latency.json").write_text(json.dumps({"env": env, "results": rows}, indent=2) + "\n")
    (args.out / "prune_latency.md").write_text(markdown(rows, env))


if __name__ == "__main__":
    main()
