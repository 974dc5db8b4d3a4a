"""Teacher → pruned without KD → pruned with KD, side by side on Fashion-MNIST (full 10k test split).

    .venv/bin/python benchmarks/train_kd.py                       # effnet_lite0, 64 px, the issue's settings
    .venv/bin/python benchmarks/train_kd.py --teacher-epochs 2 --student-epochs 1 --subset 5000   # a quick look
Writes benchmarks/results/train_kd.{json,md}. Every number comes from the runs' report.json files.
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


def compress(model: str, out: Path, args, *extra: str) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "edgekit", "compress", model, "--data", "fashion-mnist", "--img-size",
           str(args.img_size), "--batch-size", str(args.batch_size), "--formats", "onnx", "--runs", "20",
           "--out", str(out), "--overwrite", *extra]
    if args.subset:
        cmd += ["--subset", str(args.subset)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return json.loads((out / "report.json").read_text()), time.perf_counter() - start


def summary(name: str, report: dict, seconds: float, stage: str) -> dict:
    metrics = next((s["metrics"] for s in report["stages"] if s["name"] == stage), {})
    history = metrics.get("history") or []
    onnx = report["artifacts"][0]
    return {"run": name, "top1_pytorch": (report.get("accuracy_pytorch") or {}).get("top1"),
            "top1_onnx": (onnx.get("accuracy") or {}).get("top1"), "params": onnx["params"], "macs": onnx["macs"],
            "onnx_p50_ms": (onnx.get("latency_ms") or {}).get("p50"),
            "train_img_per_s": round(sum(h["img_per_s"] for h in history) / len(history), 1) if history else None,
            "epochs": len(history), "wall_s": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--student-epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--prune", type=float, default=0.3)
    parser.add_argument("--work", type=Path, default=Path("runs/bench-train-kd"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows = []
    teacher, seconds = compress(args.model, args.work / "teacher", args, "--epochs", str(args.teacher_epochs),
                                "--lr", "0.006", "--ema", "0.999")
    rows.append(summary("teacher", teacher, seconds, "teacher"))
    checkpoint = str(args.work / "teacher" / "model")
    for name, kd in (("pruned, fine-tuned without KD", "--no-kd"), ("pruned + KD", "--kd")):
        report, seconds = compress(checkpoint, args.work / name.split(",")[0].replace(" ", "_").replace("+", "kd"),
                                   args, "--prune", str(args.prune), kd, "--epochs", str(args.student_epochs))
        rows.append(summary(name, report, seconds, "kd" if kd == "--kd" else "finetune"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_kd.json").write_text(json.dumps({"args": vars(args) | {"work": str(args.work),
                                                        "out": str(args.out)}, "cpu_count": os.cpu_count(),
                                                        "rows": rows}, indent=2) + "\n")
    lines = ["| run | top-1 PyTorch | top-1 ONNX | params | MMACs | ONNX p50 ms | trainer img/s | epochs | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['top1_pytorch']} | {r['top1_onnx']} | {r['params']:,} | {r['macs'] / 1e6:.1f} | "
              f"{r['onnx_p50_ms']} | {r['train_img_per_s']} | {r['epochs']} | {r['wall_s']} |" for r in rows]
    (args.out / "train_kd.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
