"""Does the latency gate tell noise from a regression on this machine? An A/A and an A/B run of real ONNX files.

    .venv/bin/python benchmarks/aa_gate.py                # efficientnet_lite0 @160 px, random init, 1 thread
    .venv/bin/python benchmarks/aa_gate.py --cpus 0       # pinned to CPU 0

A/A: the same .onnx file as candidate and baseline, measured interleaved (`edgekit bench A --baseline A`): the ratio
must lie in [0.95, 1.05] and the gate (`max_latency_ratio: 1.10`) must say pass. A/B: a slowed copy (the same model
with extra inverted-residual blocks in its second stage, >= 20% slower) against the original: the gate must say
fail. Writes benchmarks/results/aa_gate.{json,md} and aa_gate_latency.png; exits 1 when a criterion is not met.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUDGET = {"budgets": [{"name": "no slower than baseline + 10%", "match": {"format": "onnx"}, "max_latency_ratio": 1.10}]}


def build(img_size: int, extra_blocks: int):
    """efficientnet_lite0 (random init) and a slowed copy with `extra_blocks` more residual blocks in stage 2."""
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    slowed = copy.deepcopy(model)
    stage = slowed.blocks[1]  # 24 channels at 1/4 resolution; its last block keeps shape and has a skip connection
    slowed.blocks[1] = torch.nn.Sequential(*stage, *[copy.deepcopy(stage[-1]) for _ in range(extra_blocks)])
    return model.eval(), slowed.eval(), torch.randn(1, 3, img_size, img_size)


def export(model, example, path: Path) -> Path:
    from edgekit.exporters import export

    export("onnx", model, example, path)
    return path


def compare(candidate: Path, baseline: Path, args) -> dict:
    """`edgekit bench CANDIDATE --baseline BASELINE`, then the budget gate on the measured samples."""
    from edgekit.bench.budget import BudgetFile
    from edgekit.bench.compare import bench
    from edgekit.bench.gate import evaluate

    result = bench([candidate], args.threads, args.runs, args.warmup, baseline, None, None,
                   warmup_seconds=args.warmup_seconds, cpus=args.cpus)
    entry, comparison = result["results"][0], result["comparisons"][0]

    def record(path: Path, latency: dict) -> dict:
        return {"format": "onnx", "path": str(path), "precision": "fp32", "status": "ok", "latency_ms": latency}

    report = {"model": "efficientnet_lite0", "artifacts": [record(candidate, entry["latency_ms"])],
              "baseline": [record(baseline, comparison["baseline_latency_ms"])], "baseline_is_artifacts": False}
    gate = evaluate(report, BudgetFile.model_validate(BUDGET), "aa_gate.py budget")
    check = gate["checks"][0]
    return {"candidate": candidate.name, "baseline": baseline.name, "ratio": comparison["ratio"],
            "ratio_ci_bootstrap_95": comparison["ratio_ci"], "hodges_lehmann_ratio": check["test"]["estimate"],
            "gate_ci": check["test"]["ci"], "gate_confidence": gate["confidence"], "verdict": gate["verdict"],
            "p_violation": check["test"]["p_violation"], "p_compliance": check["test"]["p_compliance"],
            "candidate_latency_ms": entry["latency_ms"], "baseline_latency_ms": comparison["baseline_latency_ms"],
            "cold_start": entry["cold_start"], "env": result["env"], "settings": result["settings"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--img-size", type=int, default=160)
    parser.add_argument("--extra-blocks", type=int, default=6)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpus", type=lambda text: [int(c) for c in text.split(",")], default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    model, slowed, example = build(args.img_size, args.extra_blocks)
    with tempfile.TemporaryDirectory() as tmp:
        original = export(model, example, Path(tmp) / "lite0.onnx")
        slow = export(slowed, example, Path(tmp) / "lite0_slowed.onnx")
        aa = compare(original, original, args)
        ab = compare(slow, original, args)
    criteria = {"A/A ratio within [0.95, 1.05]": 0.95 <= aa["ratio"] <= 1.05, "A/A verdict pass": aa["verdict"] == "pass",
                "slowed copy >= 20% slower": ab["ratio"] >= 1.20, "slowed copy verdict fail": ab["verdict"] == "fail"}
    results = {"model": f"efficientnet_lite0 @{args.img_size} px (random init), slowed copy +{args.extra_blocks} "
                        "blocks in stage 2", "budget": BUDGET, "aa": aa, "ab": ab, "criteria": criteria}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "aa_gate.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "aa_gate.md").write_text(markdown(results))
    plot(aa, ab, args.out / "aa_gate_latency.png")
    sys.stdout.write(markdown(results))
    return 0 if all(criteria.values()) else 1


def markdown(results: dict) -> str:
    aa, ab = results["aa"], results["ab"]
    env = aa["env"]
    lines = [f"# Latency gate on this machine: A/A and A/B ({results['model']})", "",
             f"{env['cpu']} ({env['cores']} cores, load average {env['load_average']}), onnxruntime "
             f"{env.get('onnxruntime')}, {aa['settings']['threads']} thread(s), CPUs {aa['settings']['cpus']}, "
             f"{aa['settings']['runs']} interleaved runs per side (A B B A rounds of 5).", "",
             f"Budget: `max_latency_ratio: {BUDGET['budgets'][0]['max_latency_ratio']}`; gate interval at "
             f"{100 * aa['gate_confidence']:.2f}% confidence (alpha 0.002, one test).", "",
             "| comparison | p50 candidate ms | p50 baseline ms | p50 ratio | bootstrap 95% CI | HL ratio | gate CI | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in (("A/A (same file)", aa), ("A/B (slowed copy / original)", ab)):
        lines.append(f"| {name} | {r['candidate_latency_ms']['p50']:.3f} | {r['baseline_latency_ms']['p50']:.3f} | "
                     f"{r['ratio']:.3f} | {r['ratio_ci_bootstrap_95'][0]:.3f}–{r['ratio_ci_bootstrap_95'][1]:.3f} | "
                     f"{r['hodges_lehmann_ratio']:.3f} | {r['gate_ci'][0]:.3f}–{r['gate_ci'][1]:.3f} | {r['verdict']} |")
    lines += ["", "The p50 ratio is the budget's definition; the gate decides with Mann–Whitney U on log latency, whose "
              "Hodges–Lehmann ratio stays stable when a loaded machine makes latencies bimodal and medians jump "
              "between modes (see aa_gate_latency.png).", "",
              *[f"- {'met' if ok else 'NOT MET'}: {name}" for name, ok in results["criteria"].items()], ""]
    return "\n".join(lines)


def plot(aa: dict, ab: dict, path: Path) -> None:
    from edgekit.bench.plots import latency_plot

    entries = [{"label": label, "format": "onnx", "precision": "fp32", "latency_ms": latency}
               for label, latency in (("A (baseline)", aa["baseline_latency_ms"]), ("A' (same file)", aa["candidate_latency_ms"]),
                                      ("A (baseline)", ab["baseline_latency_ms"]), ("slowed copy", ab["candidate_latency_ms"]))]
    latency_plot(entries, path, "efficientnet_lite0: A/A and A/B latency, interleaved")


if __name__ == "__main__":
    sys.exit(main())
