"""The project's own budget gate: compress a headline model, gate it on benchmarks/budgets.yaml, keep the evidence.

    .venv/bin/python benchmarks/budget_check.py                        # effnet_lite0, Fashion-MNIST, 64 px
    .venv/bin/python benchmarks/budget_check.py --model test_effnet --data synthetic --epochs 0

Runs `edgekit compress MODEL ... --budget benchmarks/budgets.yaml` then `edgekit check` on its report.json, exactly
as CI does, and copies report.json, gate.md, junit.xml and the plots (latency distribution, accuracy vs latency
with the Pareto front) to benchmarks/results/budget_check/<model>/. Exits with `edgekit check`'s code.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--img-size", default="64")
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--subset", default="10000")
    parser.add_argument("--formats", default="onnx,tflite,pte")
    parser.add_argument("--runs", default="200")
    parser.add_argument("--eval-samples", default="2000")
    parser.add_argument("--budget", type=Path, default=HERE / "budgets.yaml")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "budget_check")
    args = parser.parse_args()
    edgekit = [sys.executable, "-m", "edgekit"]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / args.model
        compress = [*edgekit, "compress", args.model, "--data", args.data, "--img-size", args.img_size, "--epochs",
                    args.epochs, "--formats", args.formats, "--runs", args.runs, "--eval-samples", args.eval_samples,
                    "--budget", str(args.budget),
                    "--out", str(run)]
        if args.data != "synthetic":
            compress += ["--subset", args.subset]
        code = subprocess.run(compress).returncode
        sys.stdout.write(f"compress exit code {code}\n")
        if not (run / "report.json").is_file():
            return code
        out = args.out / args.model
        out.mkdir(parents=True, exist_ok=True)
        check = subprocess.run([*edgekit, "check", str(run / "report.json"), "--budget", str(args.budget),
                                "--junit", str(out / "junit.xml"), "--markdown", str(out / "gate.md")]).returncode
        sys.stdout.write(f"check exit code {check}\n")
        for name in ("report.json", "report.md", "latency.png", "accuracy_latency.png"):
            if (run / name).is_file():
                shutil.copy(run / name, out / name)
    return check


if __name__ == "__main__":
    sys.exit(main())
