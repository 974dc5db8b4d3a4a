"""fp32 or bf16 autocast for training on this CPU (or GPU)? Training img/s of each, side by side in one process.

    .venv/bin/python benchmarks/train_precision.py                          # the default models at 64 px
    .venv/bin/python benchmarks/train_precision.py --models resnet18 --img-size 128 --rounds 5
    .venv/bin/python benchmarks/train_precision.py --device cuda --img-size 224 --batch 128   # on a GPU machine:
                                                                            # fp32 vs bf16 vs fp16 + grad scaler

For each model: the same SGD training step (forward, cross-entropy, backward, update; channels-last, as the
trainer runs it) timed in alternating rounds, fp32 then bf16 autocast then fp32 ..., so drift and neighbours'
load hit both alike. Also records the loss of both on the same first batch (bf16 must stay close to fp32). The
CPU's SIMD flags are recorded: bf16 is native only with AVX512-BF16 or AMX. The trainer's `--train-precision
auto` keeps fp32 on CPUs because of this table; writes benchmarks/results/train_precision.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = "effnet_lite0,mbv3_large,resnet18,convnext_atto,deit_tiny"


def steps_per_second(model, images, labels, precision: str, steps: int) -> float:
    """Training steps per second in `precision` through edgekit's accelerator (autocast, fp16 grad scaler)."""
    import torch

    from edgekit.stages.accelerator import Accelerator

    accel = Accelerator(images.device, precision)
    optimizer, scaler = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9), accel.scaler()
    sync = torch.cuda.synchronize if accel.cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        with accel.autocast():
            loss = torch.nn.functional.cross_entropy(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    sync()
    return steps / (time.perf_counter() - start)


def bench_model(name: str, img_size: int, batch: int, steps: int, rounds: int, device: str,
                precisions: tuple[str, ...]) -> dict:
    import copy

    import torch

    from edgekit.models.build import create
    from edgekit.models.zoo import resolve
    from edgekit.stages.accelerator import Accelerator

    torch.manual_seed(0)
    spec = resolve(name)
    size = max(spec.img_multiple, img_size // spec.img_multiple * spec.img_multiple)
    base = create(spec, 10, size).train().to(device, memory_format=torch.channels_last)
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,), device=device)
    row: dict = {"model": name, "img_size": size, "batch": batch}
    with torch.no_grad():  # the same batch's loss in each precision: a lower precision must stay close
        for precision in precisions:
            with Accelerator(images.device, precision).autocast():
                row[f"first_loss_{precision}"] = round(float(torch.nn.functional.cross_entropy(
                    base(images).float(), labels)), 4)
    models = {precision: copy.deepcopy(base) for precision in precisions}
    for precision, model in models.items():  # warm-up: first calls pick kernels
        steps_per_second(model, images, labels, precision, 2)
    rates: dict[str, list[float]] = {precision: [] for precision in precisions}
    for r in range(rounds):  # alternating order: fp32 bf16 …, then … bf16 fp32
        for precision in (precisions if r % 2 == 0 else precisions[::-1]):
            rates[precision].append(steps_per_second(models[precision], images, labels, precision, steps) * batch)
    for precision, values in rates.items():
        row[f"{precision}_img_per_s"] = round(sorted(values)[len(values) // 2], 1)
    for precision in precisions[1:]:
        row[f"{precision}_over_fp32"] = round(row[f"{precision}_img_per_s"] / row["fp32_img_per_s"], 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=DEFAULT)
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per precision")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    import torch

    from edgekit.bench.environment import environment
    from edgekit.stages.accelerator import cpu_has_bf16

    cuda = args.device == "cuda"
    precisions = ("fp32", "bf16", "fp16") if cuda else ("fp32", "bf16")
    env = environment(torch.get_num_threads())
    where = (f"GPU: {torch.cuda.get_device_name()}" if cuda else
             f"CPU: {env.get('cpu')} · SIMD: {', '.join(env.get('flags') or []) or '?'} · native bf16: "
             f"{cpu_has_bf16()}")
    rows = []
    for name in args.models.split(","):
        rows.append(bench_model(name, args.img_size, args.batch, args.steps, args.rounds, args.device, precisions))
        print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "train_precision" + ("_cuda" if cuda else "")
    result = {"env": env, "where": where, "native_bf16": cpu_has_bf16(), "torch_threads": torch.get_num_threads(),
              "rows": rows}
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Training throughput by precision ({args.device})\n",
             f"{where} · torch {env.get('torch')}, {torch.get_num_threads()} CPU threads · {args.rounds} "
             f"alternating rounds of {args.steps} steps, median; the first batch's loss in each precision\n",
             "| model | px | batch | " + " | ".join(f"{p} img/s" for p in precisions) + " | " +
             " | ".join(f"{p} / fp32" for p in precisions[1:]) + " | " +
             " | ".join(f"loss {p}" for p in precisions) + " |",
             "|" + "---|" * (3 + 3 * len(precisions) - 1)]
    for r in rows:
        cells = [r["model"], r["img_size"], r["batch"], *(r[f"{p}_img_per_s"] for p in precisions),
                 *(r[f"{p}_over_fp32"] for p in precisions[1:]), *(r[f"first_loss_{p}"] for p in precisions)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
