"""Reruns reuse the stage cache: the issue-12 acceptance run, both runs in one invocation.

Run 1: `compress effnet_lite0 --data fashion-mnist --img-size 64 --subset 5000 --epochs 2 --prune 0.3 --int8
--formats onnx` on an empty cache. Run 2: the same with `--formats onnx,tflite,pte`. Run 2 must reuse teacher,
prune, KD and QAT, and its wall time minus the time of the steps that are new (export, verify and bench of the new
formats, for the compressed files and their FP32 baselines) must be under 10% of run 1's wall time.

    python benchmarks/cache_rerun.py [--model effnet_lite0] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgekit.bench.environment import environment

REUSED = ("teacher", "prune", "kd", "int8")


def compress(model: str, formats: str, out: Path, cache: Path, extra: list[str]) -> tuple[float, dict]:
    command = [sys.executable, "-m", "edgekit", "compress", model, "--data", "fashion-mnist", "--img-size", "64",
               "--subset", "5000", "--epochs", "2", "--prune", "0.3", "--int8", "--formats", formats,
               "--out", str(out), "--overwrite", *extra]
    start = time.perf_counter()
    result = subprocess.run(command, env={**os.environ, "EDGEKIT_CACHE": str(cache)}, text=True,
                            stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"compress failed ({result.returncode}): {result.stderr[-2000:]}")
    return wall, json.loads((out / "report.json").read_text())


def summary(first: tuple[float, dict], second: tuple[float, dict], new_formats: set[str]) -> dict:
    (wall1, _), (wall2, report2) = first, second
    stages = report2["stages"]
    new = sum(s["seconds"] for s in stages if s.get("target") in new_formats and not s["cached"])
    hits = sorted({s["name"] for s in stages if s["cached"]})
    overhead = wall2 - new
    return {"run1_wall_s": round(wall1, 1), "run2_wall_s": round(wall2, 1), "run2_new_steps_s": round(new, 1),
            "run2_overhead_s": round(overhead, 1), "overhead_share_of_run1": round(overhead / wall1, 4),
            "run2_cache_hits": report2["cache"]["hits"], "reused": [name for name in REUSED if name in hits],
            "run2_misses": report2["cache"]["misses"]}


def markdown(result: dict, env: dict, command: str) -> str:
    s = result["summary"]
    verdict = "meets" if s["overhead_share_of_run1"] < 0.10 and len(s["reused"]) == len(REUSED) else "MISSES"
    return "\n".join([
        "# Reruns reuse the stage cache", "",
        f"`{command}` — {env['cpu']}, {env['cores']} cores, flags {' '.join(env['flags'])}.", "",
        "| | wall s |", "|---|---|",
        f"| run 1: `--formats onnx`, empty cache | {s['run1_wall_s']} |",
        f"| run 2: `--formats onnx,tflite,pte` | {s['run2_wall_s']} |",
        f"| run 2, new steps (export/verify/bench of tflite and pte, artifacts and baselines) | {s['run2_new_steps_s']} |",
        f"| run 2 minus its new steps | {s['run2_overhead_s']} |", "",
        f"Run 2 minus its new steps is **{100 * s['overhead_share_of_run1']:.1f}%** of run 1 ({verdict} the < 10% "
        f"target); reused from the cache: {', '.join(s['reused'])}.", "",
        f"Cache hits in run 2: {', '.join(s['run2_cache_hits'])}.", ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("extra", nargs="*", help="more compress flags (after --)")
    args = parser.parse_args()
    kept = args.out / "cache_rerun"  # run 2's report.md and plots, shown in the README
    with tempfile.TemporaryDirectory(prefix="edgekit-cache-rerun-") as scratch:
        scratch = Path(scratch)
        first = compress(args.model, "onnx", scratch / "run", scratch / "cache", args.extra)
        second = compress(args.model, "onnx,tflite,pte", scratch / "run", scratch / "cache", args.extra)
        kept.mkdir(parents=True, exist_ok=True)
        for name in ("report.json", "report.md", "accuracy_latency.png", "latency.png"):
            shutil.copyfile(scratch / "run" / name, kept / name)
    env = environment(1)
    result = {"model": args.model, "env": env, "summary": summary(first, second, {"tflite", "pte"}),
              "run1_stages": first[1]["stages"], "run2_stages": second[1]["stages"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cache_rerun.json").write_text(json.dumps(result, indent=2) + "\n")
    command = (f"python benchmarks/cache_rerun.py --model {args.model}")
    (args.out / "cache_rerun.md").write_text(markdown(result, env, command))
    print(markdown(result, env, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
