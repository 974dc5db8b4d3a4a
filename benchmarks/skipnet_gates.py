"""Does SkipNet's exported file skip for real? Latency on inputs whose gates close vs inputs whose gates open, the
share of gated blocks run per class, and the gate threshold's top-1 / compute trade-off.

    .venv/bin/python benchmarks/skipnet_gates.py                       # skipnet_resnet18, 64 px, 10k images, 3 epochs
    .venv/bin/python benchmarks/skipnet_gates.py --img-size 32 --subset 2000 --epochs 2   # a few minutes on 2 cores

1. Trains the model from scratch on Fashion-MNIST through edgekit's shared trainer (SGD, the ResNet recipe's lr),
   with the gate cost (`--gate-cost`, the model's auxiliary loss) on.
2. On the validation images, for each gate threshold (by default the 10th..90th percentiles of the gate
   probabilities seen, so the table spans the whole trade-off whatever the training did; `--thresholds` for fixed
   values, the model's own being 0.5): the top-1 and the share of gated blocks run (table + PNG).
3. At the latency threshold (`--latency-threshold`, default the median gate probability, so that some images'
   gates close and others' open): the share of gated blocks run per class; exports the FP32 model with its control
   flow (ONNX `If`, and ExecuTorch `cond`, which edgekit does not ship: its branches run outside XNNPACK) and, as
   the control, the dense form (every block, selected per input: what .tflite, .pte and INT8 files compute), then times batch-1 inputs in onnxruntime and ExecuTorch, 1 thread: the `--group`
   images with the fewest gated blocks run ("easy") and those with the most ("hard"), interleaved image by image in
   one loop, same session. Ratios only: the machine's absolute speed is not the point.

Writes benchmarks/results/skipnet_gates.{json,md,png} with the CPU's name and SIMD flags.
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
QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="skipnet_resnet18")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--subset", type=int, default=10000, help="training images")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--gate-cost", type=float, default=0.2)
    parser.add_argument("--eval", type=int, default=2000, help="validation images scored")
    parser.add_argument("--group", type=int, default=16, help="images per latency group (easy, hard)")
    parser.add_argument("--rounds", type=int, default=30, help="timed passes over both groups")
    parser.add_argument("--thresholds", type=float, nargs="+", help="gate thresholds (default: percentiles)")
    parser.add_argument("--latency-threshold", type=float, help="threshold of the timed files (default: median)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "skipnet_gates")
    return parser.parse_args()


def train_model(args):
    from edgekit.data.sources import load_data
    from edgekit.models import resolve
    from edgekit.models.build import create, preprocessing
    from edgekit.stages.train import TrainConfig, train

    torch.manual_seed(0)
    model = create(resolve(args.model), 10, args.img_size)
    model.gate_cost = args.gate_cost
    data = load_data("fashion-mnist", args.img_size, preprocessing(model), args.subset, seed=0)
    batch = 64
    config = TrainConfig(epochs=args.epochs, optimizer="sgd", lr=0.4 * batch / 256, weight_decay=5e-5,
                         batch_size=batch, warmup_fraction=0.1, label_smoothing=0.1, img_size=args.img_size,
                         eval_samples=args.eval, device="cpu")
    started = time.perf_counter()
    train(model, data, config, label=args.model)
    return model.eval(), data, round(time.perf_counter() - started, 1)


def validation(data, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from edgekit.data.batches import fetch

    images, labels = fetch(data.val, list(range(min(n, len(data.val)))))
    return torch.as_tensor(images), torch.as_tensor(labels)


@torch.no_grad()
def gate_probabilities(model, images: torch.Tensor) -> torch.Tensor:
    """(N, gated blocks) gate probabilities, each gate seeing its block's input under the 0.5 hard gates."""
    probs = []
    hooks = [b.gate.register_forward_hook(lambda m, i, out: probs.append(out)) for b in model.gated_blocks()]
    rows = []
    try:
        for chunk in images.split(256):
            probs.clear()
            model(chunk)
            rows.append(torch.stack(probs, dim=1))
    finally:
        for hook in hooks:
            hook.remove()
    return torch.cat(rows)


@torch.no_grad()
def trade_off(model, images, labels, thresholds) -> list[dict]:
    """Top-1 and the share of gated blocks run (and of all residual blocks) at each gate threshold."""
    blocks = sum(len(stage) for stage in model.stages)
    rows = []
    for threshold in thresholds:
        model.set_threshold(threshold)
        logits = torch.cat([model(chunk) for chunk in images.split(256)])
        ran = torch.cat([model.gate_decisions(chunk) for chunk in images.split(256)]).float()
        gated = ran.mean().item()
        rows.append({"threshold": threshold, "top1": round(100 * (logits.argmax(1) == labels).float().mean().item(), 2),
                     "gated_run": round(gated, 3),
                     "blocks_run": round((blocks - ran.shape[1] + ran.sum(1).mean().item()) / blocks, 3)})
    model.set_threshold(0.5)
    return rows


def per_class(decisions: torch.Tensor, labels: torch.Tensor, names) -> list[dict]:
    return [{"class": names[c] if names else str(c), "n": int((labels == c).sum()),
             "gated_run": round(decisions[labels == c].float().mean().item(), 3)} for c in labels.unique().tolist()]


def export_files(model, example: torch.Tensor, folder: Path) -> dict[str, Path]:
    """The FP32 model with its control flow (ONNX, .pte) and in the dense form (both), by edgekit's exporters."""
    from edgekit.exporters import export
    from edgekit.exporters.executorch import export_pte
    from edgekit.exporters.onnx import export_onnx
    from edgekit.models.control_flow import control_flow

    files = {"onnx": folder / "skip.onnx", "onnx dense": folder / "dense.onnx", "pte": folder / "skip.pte",
             "pte dense": folder / "dense.pte"}
    export("onnx", model, example, files["onnx"])  # the formats table switches the control flow on for ONNX
    export("pte", model, example, files["pte dense"])  # and leaves .pte dense (its cond branches miss XNNPACK)
    with control_flow(model, False):
        export_onnx(model, example, files["onnx dense"])
    with control_flow(model, True):  # what a skipping .pte would cost
        export_pte(model, example, files["pte"])
    return files


def time_groups(path: Path, fmt: str, groups: dict[str, torch.Tensor], rounds: int) -> dict:
    """Median ms per batch-1 call for each group, the groups interleaved image by image in one session."""
    from edgekit.runtimes.base import open_session

    session = open_session(path, threads=1, format_name=fmt.split()[0])
    inputs = {name: [x[None].numpy() for x in images] for name, images in groups.items()}
    outputs = {name: np.concatenate([session.run(x) for x in xs]) for name, xs in inputs.items()}
    times: dict[str, list[float]] = {name: [] for name in inputs}
    for _ in range(rounds):
        for pair in zip(*inputs.values()):
            for name, x in zip(inputs, pair):
                start = time.perf_counter()
                session.run(x)
                times[name].append(1000 * (time.perf_counter() - start))
    medians = {name: round(statistics.median(t), 4) for name, t in times.items()}
    return {"median_ms": medians, "easy_over_hard": round(medians["easy"] / medians["hard"], 3),
            "outputs": outputs}


def main() -> None:
    from edgekit.runtimes.worker import cpu_info

    args = parse()
    torch.set_num_threads(1)
    model, data, train_s = train_model(args)
    images, labels = validation(data, args.eval)
    probs = gate_probabilities(model, images)
    thresholds = args.thresholds or [round(float(probs.quantile(q)), 6) for q in QUANTILES]
    rows = trade_off(model, images, labels, thresholds)
    threshold = args.latency_threshold if args.latency_threshold is not None else float(probs.median())
    model.set_threshold(threshold)
    decisions = torch.cat([model.gate_decisions(chunk) for chunk in images.split(256)])
    order = decisions.sum(1).argsort(stable=True)
    groups = {"easy": images[order[:args.group]], "hard": images[order.flip(0)[:args.group]]}
    ran = {name: decisions[idx].float().mean().item() for name, idx in
           (("easy", order[:args.group]), ("hard", order.flip(0)[:args.group]))}
    classes = per_class(decisions, labels, getattr(data, "class_names", None))
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = export_files(model, images[:1], Path(tmp))
        with torch.no_grad():
            reference = {name: model(group).numpy() for name, group in groups.items()}
        for fmt, path in files.items():
            timed = time_groups(path, fmt, groups, args.rounds)
            outputs = timed.pop("outputs")
            timed["max_abs_diff"] = float(max(np.abs(outputs[n] - reference[n]).max() for n in groups))
            timings[fmt] = timed
    name, flags = cpu_info()
    result = {"model": args.model, "img_size": args.img_size, "train_images": args.subset, "epochs": args.epochs,
              "gate_cost": args.gate_cost, "train_s": train_s, "eval_images": len(images),
              "host": {"cpu": name, "simd": flags, "cores": os.cpu_count(), "threads": 1},
              "gated_blocks": len(model.gated_blocks()), "latency_threshold": threshold,
              "groups": {"size": args.group, "gated_run": ran},
              "latency": timings, "per_class": classes, "threshold": rows}
    write(result, args.out)


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# SkipNet gates: {result['model']}, Fashion-MNIST {result['img_size']} px",
             "", f"Trained from scratch on {result['train_images']} images for {result['epochs']} epochs "
             f"(gate cost {result['gate_cost']}, {result['train_s']} s); {result['eval_images']} validation images; "
             f"{result['gated_blocks']} gated blocks. CPU: {result['host']['cpu']}, 1 thread.", "",
             f"## Latency, batch 1, gate threshold {result['latency_threshold']:.4g}: the {result['groups']['size']} images with the fewest gated blocks run (easy) "
             "vs the most (hard), interleaved, same session", "",
             f"Share of gated blocks run: easy {result['groups']['gated_run']['easy']:.2f}, "
             f"hard {result['groups']['gated_run']['hard']:.2f}.", "",
             "| file | easy ms (p50) | hard ms (p50) | easy / hard | max abs diff vs PyTorch |", "|---|---|---|---|---|"]
    for fmt, t in result["latency"].items():
        lines.append(f"| {fmt} | {t['median_ms']['easy']} | {t['median_ms']['hard']} | {t['easy_over_hard']} | "
                     f"{t['max_abs_diff']:.2e} |")
    lines += ["", "## Gate threshold: top-1 vs compute", "",
              "| threshold | top-1 % | gated blocks run | all blocks run |", "|---|---|---|---|"]
    lines += [f"| {r['threshold']} | {r['top1']} | {r['gated_run']} | {r['blocks_run']} |" for r in result["threshold"]]
    lines += ["", f"## Share of gated blocks run per class (threshold {result['latency_threshold']:.4g})", "", "| class | images | gated blocks run |",
              "|---|---|---|"]
    lines += [f"| {c['class']} | {c['n']} | {c['gated_run']} |" for c in result["per_class"]]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(result["threshold"], out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left = plt.subplots(figsize=(6, 4))
    thresholds = [r["threshold"] for r in rows]
    left.plot(thresholds, [r["top1"] for r in rows], "o-", color="tab:blue")
    left.set_xlabel("gate threshold")
    left.set_ylabel("top-1 (%)", color="tab:blue")
    right = left.twinx()
    right.plot(thresholds, [r["blocks_run"] for r in rows], "s--", color="tab:red")
    right.set_ylabel("share of residual blocks run", color="tab:red")
    right.set_ylim(0, 1.05)
    left.set_title("SkipNet: gate threshold vs accuracy and compute")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
