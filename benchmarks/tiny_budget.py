"""How far do defaults get on a tiny budget, and what would it take? ResNet-18 on 3,000 Fashion-MNIST images.

    .venv/bin/python benchmarks/tiny_budget.py                 # every row below, about 8 minutes on 2 cores
    .venv/bin/python benchmarks/tiny_budget.py --rows defaults "4 epochs"

The issue's command, `edgekit compress resnet18 --data fashion-mnist --subset 3000 --img-size 32 --epochs 2
--no-int8 --formats onnx`, is row "defaults"; every other row changes one thing (a flag) to show what moves the
teacher's top-1 on the full 10k test split and what a bigger budget buys. Each row is a separate `edgekit
compress` run with an empty cache for its teacher; the numbers come from the runs' report.json. Writes
benchmarks/results/tiny_budget.{json,md}, with the CPU's name and SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMAND = ["compress", "resnet18", "--data", "fashion-mnist", "--subset", "3000", "--img-size", "32", "--epochs", "2",
           "--no-int8", "--formats", "onnx", "--runs", "10"]

#: (row, extra flags): the defaults, one change at a time, then longer budgets
ROWS = (("defaults", ()), ("pad crop (the default before this round)", ("--crop", "pad")),
        ("no flip", ("--no-flip",)), ("lr 0.8 per 256 (recipe: 0.4)", ("--lr-base", "0.8")),
        ("lr 0.2 per 256", ("--lr-base", "0.2")), ("batch 32", ("--batch-size", "32")),
        ("warm-up 30% (recipe: 10%)", ("--warmup-fraction", "0.3")), ("no label smoothing", ("--label-smoothing", "0")),
        ("AdamW, lr 0.008 per 256, wd 0.05", ("--optimizer", "adamw", "--lr-base", "0.008", "--weight-decay", "0.05")),
        ("plain defaults (--train-recipe none)", ("--train-recipe", "none")),
        ("4 epochs", ("--epochs", "4")), ("8 epochs", ("--epochs", "8")))


def machine() -> dict:
    """The CPU's name and SIMD flags (the runtime worker's probe), and the core count."""
    from edgekit.runtimes.worker import cpu_info

    name, flags = cpu_info()
    return {"cpu": name, "simd": flags, "cores": os.cpu_count()}


def run_row(name: str, flags: tuple[str, ...], work: Path) -> dict:
    out = work / "".join(c if c.isalnum() else "-" for c in name).strip("-")
    env = dict(os.environ, EDGEKIT_CACHE=str(work / "cache" / out.name))  # a fresh teacher for every row
    cmd = [sys.executable, "-m", "edgekit", *COMMAND, *flags, "--out", str(out), "--overwrite"]
    print("+", " ".join(cmd[2:]), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    report = json.loads((out / "report.json").read_text())
    teacher = next(s for s in report["stages"] if s["name"] == "teacher")["metrics"]
    return {"row": name, "flags": " ".join(flags), "top1": report["accuracy_pytorch"]["top1"],
            "epochs": len(teacher.get("history") or []), "train_s": teacher.get("train_seconds"),
            "recipe": (report.get("training_recipe") or {}).get("name"), "wall_s": round(time.perf_counter() - started, 1)}


def write(rows: list[dict], host: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "tiny_budget.json").write_text(json.dumps({"command": "edgekit " + " ".join(COMMAND), **host,
                                                      "rows": rows}, indent=2) + "\n")
    base = rows[0]["top1"] if rows and rows[0]["row"] == "defaults" else None
    lines = [f"`edgekit {' '.join(COMMAND)}` plus each row's flags; teacher top-1 on the full 10k test split.",
             f"CPU: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores.", "",
             "| row | flags | top-1 % | vs defaults | epochs | train s |", "|---|---|---|---|---|---|"]
    for r in rows:
        delta = f"{r['top1'] - base:+.2f}" if base is not None and r["row"] != "defaults" else ""
        lines.append(f"| {r['row']} | `{r['flags'] or '-'}` | {r['top1']} | {delta} | {r['epochs']} | {r['train_s']} |")
    (out / "tiny_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="*", help="run only these rows (by name)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    chosen = [(n, f) for n, f in ROWS if not args.rows or n in args.rows]
    if not chosen:
        raise SystemExit(f"no such rows; known: {', '.join(n for n, _ in ROWS)}")
    print(f"{len(chosen)} runs of about 40 s each (8 epochs: about 1 min 40 s) on 2 cores", flush=True)
    host, rows = machine(), []
    with tempfile.TemporaryDirectory(prefix="edgekit-tiny-budget-") as work:
        for name, flags in chosen:
            rows.append(run_row(name, flags, Path(work)))
            write(rows, host, args.out)


if __name__ == "__main__":
    main()
