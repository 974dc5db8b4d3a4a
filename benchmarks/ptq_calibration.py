"""Which PTQ calibration keeps a model closest to its FP32 self? From one FP32 checkpoint and the same calibration
images, side by side: XNNPACK's histogram activation observers, plain min/max observers (what onnxruntime's and
LiteRT's own quantizers use), edgekit's batch-mean observers (the mean of each calibration batch's min/max), and
NNCF's PTQ with fast bias correction (edgekit's nncf backend).

    .venv/bin/python benchmarks/ptq_calibration.py --models effnet_lite0,mbv3_large,resnet18,deit_tiny,dy_mbv3_small
    .venv/bin/python benchmarks/ptq_calibration.py --checkpoint RUN/model        # an edgekit checkpoint instead

Without --checkpoint each model first trains a small FP32 teacher (`edgekit compress MODEL --no-int8`, 2 epochs on
6,000 Fashion-MNIST images at 64 px). Each variant's top-1 and its top-1 agreement with the FP32 model are measured
over the whole test split in PyTorch's int8 simulation (verification shows the runtimes agree with it on ≥ 99%).
Writes benchmarks/results/ptq_calibration.{json,md} with the CPU's SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tiny_budget import machine

HERE = Path(__file__).resolve().parent
VARIANTS = {"histogram": ("pt2e", "histogram"), "minmax": ("pt2e", "minmax"), "batch-mean": ("pt2e", "batch-mean"),
            "nncf": ("nncf", "histogram")}


def teacher(name: str, args, work: Path) -> Path:
    """Train a small FP32 teacher with edgekit; its checkpoint."""
    out = work / name
    cmd = [sys.executable, "-m", "edgekit", "compress", name, "--data", "fashion-mnist", "--img-size",
           str(args.img_size), "--subset", str(args.subset), "--epochs", str(args.epochs), "--no-int8", "--formats",
           "onnx", "--no-bench", "--out", str(out)]
    print("+ edgekit", " ".join(cmd[3:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out / "model"


def measure(checkpoint: Path, args) -> dict:
    from edgekit.bench.accuracy import collect, torch_logits_fn
    from edgekit.data.sources import load_data
    from edgekit.models.build import preprocessing
    from edgekit.models.checkpoint import load_checkpoint
    from edgekit.quant import pt2e, scheme
    from edgekit.quant.backends import QUANT_BACKENDS
    from edgekit.stages.quantize import calibration_batches

    model, description = load_checkpoint(checkpoint)
    model.eval()
    data = load_data("fashion-mnist", description.img_size, preprocessing(model), args.subset, args.seed)
    batches = calibration_batches(data, args.calib_samples, 64, args.seed)
    reference, labels = collect(torch_logits_fn(model), data.val, 250, "fp32")
    fp32_top1 = reference.argmax(1)
    row = {"model": description.model, "img_size": description.img_size, "n": len(labels),
           "calib_samples": args.calib_samples, "fp32_top1": round(100 * float((fp32_top1 == labels).mean()), 2),
           "variants": {}}
    graph = pt2e.capture(model, batches[0][:1])  # each backend quantizes a copy
    for variant, (backend, observer) in VARIANTS.items():
        start = time.perf_counter()
        converted = QUANT_BACKENDS.get(backend).quantize(graph, scheme.xnnpack_quantizer(observer=observer), batches)
        seconds = time.perf_counter() - start
        top1 = collect(torch_logits_fn(converted), data.val, 250, variant)[0].argmax(1)
        row["variants"][variant] = {
            "top1": round(100 * float((top1 == labels).mean()), 2),
            "agreement": round(100 * float((top1 == fp32_top1).mean()), 2),
            "flips": int((top1 != fp32_top1).sum()), "quantize_s": round(seconds, 1)}
        print(json.dumps({"model": row["model"], variant: row["variants"][variant]}), flush=True)
    return row


def markdown(rows: list[dict], host: dict, args) -> str:
    lines = ["# PTQ calibration: histogram vs min/max vs batch-mean observers vs NNCF's bias correction\n",
             f"`benchmarks/ptq_calibration.py`; FP32 teachers: {args.epochs} epochs on {args.subset:,} Fashion-MNIST "
             f"images at {args.img_size} px; {args.calib_samples} calibration images; top-1 and agreement with the "
             "FP32 model's top-1 over the 10k test split, in PyTorch's int8 simulation. "
             f"CPU: {host['cpu']} ({', '.join(host['simd'])}), {host['cores']} cores.\n",
             "| model | FP32 top-1 % | " + " | ".join(f"{v} top-1 % | {v} agrees % (flips)" for v in VARIANTS) + " |",
             "|---|---|" + "---|---|" * len(VARIANTS)]
    for r in rows:
        cells = [f"{r['variants'][v]['top1']} | {r['variants'][v]['agreement']} ({r['variants'][v]['flips']})"
                 for v in VARIANTS]
        lines.append(f"| {r['model']} | {r['fp32_top1']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="effnet_lite0,mbv3_large,resnet18,deit_tiny,dy_mbv3_small")
    parser.add_argument("--checkpoint", type=Path, action="append", help="measure these instead of training")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--subset", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--calib-samples", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    host, rows = machine(), []
    with tempfile.TemporaryDirectory(prefix="edgekit-ptq-") as tmp:
        for source in args.checkpoint or args.models.split(","):
            checkpoint = source if isinstance(source, Path) else teacher(source, args, Path(tmp))
            rows.append(measure(checkpoint, args))
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "ptq_calibration.json").write_text(json.dumps({**host, "rows": rows}, indent=2) + "\n")
            (args.out / "ptq_calibration.md").write_text(markdown(rows, host, args))
    print(markdown(rows, host, args))


if __name__ == "__main__":
    main()
