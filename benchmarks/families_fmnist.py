"""Do edgekit's own families train as well as ResNet-18, and survive prune 0.3 + INT8 in every runtime?

    .venv/bin/python benchmarks/families_fmnist.py                          # the issue's four models
    .venv/bin/python benchmarks/families_fmnist.py --subset 12000 --epochs 4 # a longer run (a new table)
    .venv/bin/python benchmarks/families_fmnist.py --models resnet18 t2t_vit_7 --update

Each model runs `edgekit compress MODEL --data fashion-mnist --img-size 64 --subset N --epochs E --recover-epochs R
--qat-epochs Q --prune 0.3 --int8 --formats onnx,tflite,pte` from scratch (no pretrained weights offline) with its family's training recipe, and an
empty cache of its own. The table shows the FP32 teacher's top-1 on the full 10k test split, its gap to the
reference model (resnet18, trained the same way), the pruned INT8 model's PyTorch top-1, and each INT8 file's
status and top-1 in its own runtime. Writes benchmarks/results/families_fmnist.{json,md} with the CPU's SIMD flags.
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

from tiny_budget import machine
from zoo_matrix import last_line

HERE = Path(__file__).resolve().parent
MODELS = ("resnet18", "t2t_vit_7", "dynamicconv_mbv3_small", "skipnet_resnet18")
REFERENCE = "resnet18"
FORMATS = ("onnx", "tflite", "pte")
#: "within 3 points of resnet18" (issue 15)
MAX_GAP = 3.0


def command(model: str, args: argparse.Namespace, out: Path) -> list[str]:
    return [sys.executable, "-m", "edgekit", "compress", model, "--data", "fashion-mnist", "--img-size", str(args.img_size),
            "--subset", str(args.subset), "--epochs", str(args.epochs), "--recover-epochs", str(args.recover_epochs),
            "--qat-epochs", str(args.qat_epochs), "--prune", "0.3", "--int8",
            "--formats", ",".join(FORMATS), "--runs", "10", "--threads", "1", "--out", str(out), "--overwrite"]


def run_one(model: str, args: argparse.Namespace, work: Path) -> dict:
    out = work / model
    env = dict(os.environ, EDGEKIT_CACHE=str(work / "cache" / model))  # a fresh teacher for every model
    cmd = command(model, args, out)
    print("+ edgekit", " ".join(cmd[3:]), flush=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row: dict = {"model": model, "exit_code": proc.returncode, "wall_s": round(time.perf_counter() - started)}
    if not (out / "report.json").is_file():
        row["error"] = last_line(proc.stderr)
        return row
    report = json.loads((out / "report.json").read_text())
    teacher = next(s for s in report["stages"] if s["name"] == "teacher")["metrics"]
    row.update(teacher_top1=(report.get("baseline_accuracy_pytorch") or {}).get("top1"),
               compressed_top1=(report.get("accuracy_pytorch") or {}).get("top1"),
               train_s=teacher.get("train_seconds"), recipe=(report.get("training_recipe") or {}).get("name"),
               files={a["format"]: {"status": a["status"], "top1": (a.get("accuracy") or {}).get("top1"),
                                    "macs": a.get("macs"), "error": a.get("error")}
                      for a in report["artifacts"] if a["precision"] == "int8"})
    return row


def markdown(rows: list[dict], host: dict, args: argparse.Namespace) -> str:
    reference = next((r.get("teacher_top1") for r in rows if r["model"] == REFERENCE), None)
    others = ", ".join(f"{r['model']} ({r['cpu']})" for r in rows if r.get("cpu") not in (None, host["cpu"]))
    lines = [f"# Families on Fashion-MNIST at {args.img_size} px: teacher vs {REFERENCE}, then prune 0.3 + INT8\n",
             f"`{' '.join(['edgekit', *command('MODEL', args, Path('OUT'))[3:-3]])}`; top-1 on the full 10k test "
             f"split. CPU: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores"
             + (f"; rows from other CPUs: {others}" if others else "") + ".\n",
             f"| model | recipe | teacher top-1 % | vs {REFERENCE} | within {MAX_GAP:g} | pruned INT8 PyTorch % | "
             + " | ".join(f"{f} INT8 %" for f in FORMATS) + " | train s |",
             "|---|---|---|---|---|---|" + "---|" * len(FORMATS) + "---|"]
    for r in rows:
        if "teacher_top1" not in r:
            lines.append(f"| {r['model']} | failed (exit {r['exit_code']}): {r.get('error', '')} |")
            continue
        gap = r["teacher_top1"] - reference if reference is not None and r["teacher_top1"] is not None else None
        within = "" if gap is None or r["model"] == REFERENCE else ("yes" if gap >= -MAX_GAP else "no")
        cells = [f"{f['top1']}" if f["status"] == "ok" else f"failed: {(f['error'] or '').replace('|', '')[:60]}"
                 for f in (r["files"].get(fmt, {"status": "-", "error": "not written"}) for fmt in FORMATS)]
        lines.append(f"| {r['model']} | {r.get('recipe') or '-'} | {r['teacher_top1']} | "
                     f"{'' if gap is None or r['model'] == REFERENCE else f'{gap:+.2f}'} | {within} | "
                     f"{r['compressed_top1']} | " + " | ".join(cells) + f" | {r.get('train_s')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--subset", type=int, default=5000, help="training images (the test split stays whole)")
    parser.add_argument("--epochs", type=int, default=3, help="teacher epochs")
    parser.add_argument("--recover-epochs", type=float, default=1, help="KD epochs after pruning")
    parser.add_argument("--qat-epochs", type=float, default=0.5)
    parser.add_argument("--update", action="store_true", help="keep the other models' rows of the last results")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    settings = {"img_size": args.img_size, "subset": args.subset, "epochs": args.epochs,
                "recover_epochs": args.recover_epochs, "qat_epochs": args.qat_epochs}
    last = json.loads((args.out / "families_fmnist.json").read_text()) \
        if args.update and (args.out / "families_fmnist.json").is_file() else {"rows": []}
    changed = {k: (last[k], v) for k, v in settings.items() if k in last and last[k] != v}
    if changed:  # rows trained differently are not comparable: "within 3 points" needs one setting
        parser.error("--update keeps rows trained with other settings: " +
                     ", ".join(f"--{k.replace('_', '-')} was {old}, now {new}" for k, (old, new) in changed.items()))
    previous = [{"cpu": last.get("cpu"), **r} for r in last["rows"]]  # rows of older runs name their CPU
    host = machine()
    print(f"{len(args.models)} model(s), each a fresh teacher ({args.epochs} epochs on {args.subset:,} images at "
          f"{args.img_size} px) then prune + KD + INT8 QAT + 3 exports: roughly 5-15 minutes per model on 2 cores",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-families-") as tmp:
        fresh = [{**run_one(model, args, Path(tmp)), "cpu": host["cpu"]} for model in args.models]
    rows = [r for r in previous if r["model"] not in args.models] + fresh
    rows.sort(key=lambda r: (r["model"] != REFERENCE, r["model"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "families_fmnist.json").write_text(json.dumps({**host, **settings, "rows": rows}, indent=2) + "\n")
    table = markdown(rows, host, args)
    (args.out / "families_fmnist.md").write_text(table)
    print(table, flush=True)


if __name__ == "__main__":
    main()
