"""INT8 ONNX weights as int8 (onnxruntime's u8·s8 kernels) or uint8 (u8·u8), side by side on this host: fidelity
to the quantized PyTorch model and latency.

    .venv/bin/python benchmarks/onnx_int8_weights.py                     # 3 models, 64 px, ~10 min on 2 cores
    .venv/bin/python benchmarks/onnx_int8_weights.py --models resnet18 --train 1000 --rounds 20   # a quick look

Without VNNI (AVX2-only x86) onnxruntime's u8·s8 kernels multiply with VPMADDUBSW, whose int16 pair sums saturate;
its u8·u8 kernels widen first. The two files hold the same numbers (uint8 = int8 + 128, zero point 128), so any
difference between them is the kernels'. Per model: trained from scratch on `--train` Fashion-MNIST images for
`--epochs` through edgekit's trainer (no pretrained weights offline; an untrained model's logits are near-ties that
one rounding step flips), PTQ (edgekit's PT2E XNNPACK scheme) calibrated on `--calib` images, both files exported,
then on `--eval` validation images, each file's output against two references: the same file evaluated unfused
(graph optimisations off: every Q/DQ pair in float, the file's own numbers, so the drift is the integer kernels')
and PyTorch's int8 model; max |logit diff| as a share of the reference's range and top-1 agreement. Then batch-1
latency, 1 thread, the two sessions interleaved run by run. Ratios only: absolute speed depends on the machine.

Writes benchmarks/results/onnx_int8_weights.{json,md} with the CPU's name and SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
WEIGHTS = ("int8", "uint8")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "mbv3_large", "effnet_lite0"])
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--calib", type=int, default=128, help="calibration images (from the training subset)")
    parser.add_argument("--eval", type=int, default=1000, help="validation images compared with PyTorch")
    parser.add_argument("--rounds", type=int, default=40, help="timed batch-1 runs per file")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "onnx_int8_weights")
    return parser.parse_args()


def trained(name: str, args) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The model trained on Fashion-MNIST; calibration and validation images."""
    from edgekit.data.batches import fetch
    from edgekit.data.sources import load_data
    from edgekit.models import resolve
    from edgekit.models.build import create, preprocessing
    from edgekit.stages.train import TrainConfig, train

    torch.manual_seed(0)
    model = create(resolve(name), 10, args.img_size)
    data = load_data("fashion-mnist", args.img_size, preprocessing(model), args.train, seed=0)
    config = TrainConfig(epochs=args.epochs, optimizer="sgd", lr=0.2 * 64 / 256, weight_decay=5e-5, batch_size=64,
                         warmup_fraction=0.1, label_smoothing=0.1, img_size=args.img_size, eval_samples=256,
                         device="cpu")
    train(model, data, config, label=name)
    calib = torch.as_tensor(fetch(data.train, list(range(min(args.calib, len(data.train)))))[0])
    val = torch.as_tensor(fetch(data.val, list(range(min(args.eval, len(data.val)))))[0])
    return model.eval(), calib, val


def quantized(name: str, args) -> tuple[torch.nn.Module, torch.Tensor]:
    from edgekit.quant import pt2e, scheme

    model, calib, val = trained(name, args)
    batches = list(calib.split(16))
    return pt2e.ptq(pt2e.capture(model, batches[0][:1]), scheme.xnnpack_quantizer(), batches), val


def logits(session, val: torch.Tensor) -> np.ndarray:
    return np.concatenate([session.run(chunk.numpy()) for chunk in val.split(32)])


def unfused_logits(path: Path, val: torch.Tensor) -> np.ndarray:
    """The file's own numbers: onnxruntime with every graph optimisation off evaluates each Q/DQ pair in float."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": chunk.numpy()})[0] for chunk in val.split(32)])


def compare(out: np.ndarray, reference: np.ndarray) -> dict:
    """Max |diff| as a share of the reference's logit range; top-1 agreement, plain and with near-ties (the
    reference's own top-2 margin within two steps of its int8 output grid) excepted, as verification counts them."""
    from edgekit.bench.measure import fidelity as agreement
    from edgekit.stages.verify import grid_step

    spread = float(reference.max() - reference.min()) or 1.0
    counted = agreement(out, reference, 2 * grid_step(reference), 0.0)
    beyond = 100 * (counted["n"] - counted["disagreements"] + counted["near_ties"]) / counted["n"]
    return {"max_diff_share": round(float(np.abs(out - reference).max()) / spread, 5),
            "top1_agreement": counted["agreement"], "near_ties": counted["near_ties"],
            "agreement_beyond_ties": round(beyond, 2)}


def latency(sessions: dict, val: torch.Tensor, rounds: int) -> dict:
    """p50 ms per file, batch 1, the files interleaved run by run."""
    inputs = [val[i:i + 1].numpy() for i in range(min(8, len(val)))]
    times = {name: [] for name in sessions}
    for name, session in sessions.items():  # warm-up
        for x in inputs[:3]:
            session.run(x)
    for r in range(rounds):
        x = inputs[r % len(inputs)]
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(x)
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def measure(name: str, args, folder: Path) -> dict:
    from edgekit.exporters.onnx import export_onnx
    from edgekit.runtimes import open_session

    converted, val = quantized(name, args)
    with torch.no_grad():
        reference = np.concatenate([converted(chunk).numpy() for chunk in val.split(32)])
    sessions, row = {}, {"model": name}
    for weights in WEIGHTS:
        path = folder / f"{name}.{weights}.onnx"
        export_onnx(converted, val[:1], path, int8_weights=weights)
        sessions[weights] = open_session(path, threads=1)
        fused = logits(sessions[weights], val)
        row[weights] = {"vs_pytorch": compare(fused, reference),
                        "vs_unfused": compare(fused, unfused_logits(path, val))}
    p50 = latency(sessions, val, args.rounds)
    for weights in WEIGHTS:
        row[weights]["p50_ms"] = p50[weights]
    row["uint8_vs_int8_latency"] = round(p50["uint8"] / p50["int8"], 3)
    return row


def write(rows: list[dict], args, host: dict) -> None:
    from edgekit.runtimes.onnxruntime import int8_weight_type

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"host": host, "auto_picks": int8_weight_type(), "img_size": args.img_size, "train": args.train,
              "epochs": args.epochs, "calib": args.calib, "eval": args.eval, "rounds": args.rounds, "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# INT8 ONNX: int8 vs uint8 weights in onnxruntime", "",
             f"CPU: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores, 1 thread; "
             f"onnxruntime {host['onnxruntime']}. Each model trained {args.epochs:g} epoch(s) on {args.train} "
             f"Fashion-MNIST images at {args.img_size} px, PTQ on {args.calib}; {args.eval} validation images "
             f"compared; p50 of {args.rounds} interleaved batch-1 runs. "
             f"`--onnx-int8-weights auto` picks **{result['auto_picks']}** on this host.", "",
             "Two references per file: PyTorch's int8 model, and the same file evaluated unfused (onnxruntime with "
             "graph optimisations off computes every Q/DQ pair in float: the file's own numbers, so any drift from "
             "it is the integer kernels'). Max diff as a share of the reference's logit range; top-1 agrees %: "
             "plain / with near-ties excepted (the reference's top-2 margin within two steps of its int8 output "
             "grid, as verification counts them).", "",
             "| model | weights | vs unfused: max diff | vs unfused: agrees % | vs PyTorch: max diff "
             "| vs PyTorch: agrees % | p50 ms | vs int8 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for weights in WEIGHTS:
            own, torch_ = r[weights]["vs_unfused"], r[weights]["vs_pytorch"]
            ratio = r["uint8_vs_int8_latency"] if weights == "uint8" else 1.0
            lines.append(f"| {r['model']} | {weights} | {own['max_diff_share']} | {own['top1_agreement']} / "
                         f"{own['agreement_beyond_ties']} | {torch_['max_diff_share']} | {torch_['top1_agreement']} / "
                         f"{torch_['agreement_beyond_ties']} | {r[weights]['p50_ms']} | {ratio} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    import onnxruntime

    from edgekit.runtimes.worker import cpu_info

    args = parse()
    torch.set_num_threads(1)
    name, flags = cpu_info()
    host = {"cpu": name, "simd": flags, "cores": os.cpu_count(), "onnxruntime": onnxruntime.__version__}
    minutes = len(args.models) * (1 + args.train * args.epochs / 30 / 60)  # ~30 img/s of training, 1 min of export
    print(f"{len(args.models)} models, each trained and exported twice at {args.img_size} px: about {minutes:.0f} min")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            started = time.perf_counter()
            rows.append(measure(model, args, Path(tmp)))
            print(f"{model}: {json.dumps(rows[-1])} ({time.perf_counter() - started:.0f} s)")
    write(rows, args, host)


if __name__ == "__main__":
    main()
