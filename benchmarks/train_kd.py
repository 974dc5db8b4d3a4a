"""Teacher → pruned without KD → pruned with KD, side by side on Fashion-MNIST (full 10k test split); and an
ablation of the training techniques.

    .venv/bin/python benchmarks/train_kd.py                       # the published run (docs/training.md#measured)
    .venv/bin/python benchmarks/train_kd.py --teacher-epochs 2 --student-epochs 1 --subset 5000   # a quick look
    .venv/bin/python benchmarks/train_kd.py --ablation --teacher-epochs 2      # which techniques move top-1
Writes benchmarks/results/train_kd.{json,md} (and train_kd_ablation.{json,md}). Every number comes from the runs'
report.json files; wall time and the CPU time of each run (user + system of the child process) are recorded side
by side, with the load average, because a shared machine inflates wall time but not CPU time. Training uses
torch's thread count (OMP_NUM_THREADS; all cores when unset); `--student-threads 1` trains the two students side
by side, one core each.

Settings: the teacher trains with its family's recipe (edgekit/stages/training_recipes/) plus what --teacher-flags
adds (by default lr 0.4 per 256 images, as recipes/effnet_lite0-train-90.yaml); the pruned students fine-tune
from the teacher's weights at --student-lr. The ablation trains one teacher per row, each changing one thing in
the family recipe (without --teacher-flags), with the same epochs and data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tiny_budget import machine

HERE = Path(__file__).resolve().parent


#: one teacher per row: the family recipe (with Fashion-MNIST's no-crop default), then one change at a time
ABLATION = (("family recipe", ()), ("plain defaults (--train-recipe none: AdamW, pad crop)", ("--train-recipe", "none")),
            ("pad crop instead of none", ("--crop", "pad")), ("lr 0.4 per 256 instead of 0.2", ("--lr-base", "0.4")),
            ("+ EMA 0.999", ("--ema", "0.999")), ("+ random erasing 0.25", ("--re-prob", "0.25")),
            ("+ RandAugment m5", ("--auto-augment", "rand-m5-mstd0.5")), ("+ drop-path 0.1", ("--drop-path", "0.1")),
            ("+ mixup 0.2 / cutmix 1.0", ("--mixup", "0.2", "--cutmix", "1.0", "--mix-prob", "0.5")),
            ("+ progressive resizing from 0.5x", ("--progressive", "0.5")))


def start(model: str, out: Path, args, *extra: str, threads: int | None = None) -> tuple[subprocess.Popen, float]:
    cmd = [sys.executable, "-m", "edgekit", "compress", model, "--data", "fashion-mnist", "--img-size",
           str(args.img_size), "--batch-size", str(args.batch_size), "--formats", "onnx", "--runs", "20",
           "--out", str(out), "--overwrite", *extra]
    if args.subset:
        cmd += ["--subset", str(args.subset)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env)
    proc.training_threads = threads or int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count())
    return proc, time.perf_counter()


def finish(proc: subprocess.Popen, started: float, out: Path) -> tuple[dict, dict]:
    """Wait for one run; its report and timing (wall, and the CPU time of that child alone)."""
    if getattr(proc, "usage", None) is None:
        _, status, proc.usage = os.wait4(proc.pid, 0)
        proc.returncode, proc.ended = os.waitstatus_to_exitcode(status), time.perf_counter()
    usage = proc.usage
    if proc.returncode != 0:
        raise SystemExit(f"{out}: edgekit compress exited with {proc.returncode}")
    timing = {"wall_s": round(proc.ended - started, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
              "threads": proc.training_threads,
              "loadavg_end": [round(v, 2) for v in os.getloadavg()]}
    return json.loads((out / "report.json").read_text()), timing


def summary(name: str, report: dict, timing: dict, stage: str) -> dict:
    metrics = next((s["metrics"] for s in report["stages"] if s["name"] == stage), {})
    history = metrics.get("history") or []
    onnx = report["artifacts"][0]
    return {"run": name, "top1_pytorch": (report.get("accuracy_pytorch") or {}).get("top1"),
            "top1_onnx": (onnx.get("accuracy") or {}).get("top1"), "params": onnx["params"], "macs": onnx["macs"],
            "onnx_p50_ms": (onnx.get("latency_ms") or {}).get("p50"),
            "train_img_per_s": round(sum(h["img_per_s"] for h in history) / len(history), 1) if history else None,
            "train_s": round(sum(h["seconds"] for h in history), 1) if history else None,
            "epochs": len(history), **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--teacher-epochs", type=int, default=8)
    parser.add_argument("--student-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--teacher-flags", default="--lr-base 0.4",
                        help="extra compress flags for the teacher (default: the lr of recipes/effnet_lite0-train-90)")
    parser.add_argument("--student-lr", type=float, default=0.1)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--ablation", action="store_true", help="train one teacher per technique instead")
    parser.add_argument("--prune", type=float, default=0.3)
    parser.add_argument("--reuse-teacher", action="store_true",
                        help="keep the teacher of an earlier run (its row in --out/NAME.json, its model in --work)")
    parser.add_argument("--student-threads", type=int, default=None,
                        help="run the two students side by side, each on this many threads (default: one at a time)")
    parser.add_argument("--no-kd-student", action="store_true", help="train only the distilled student")
    parser.add_argument("--name", default="train_kd", help="results file name (NAME.json, NAME.md)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench-train-kd"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if args.ablation:
        return ablation(args)
    rows: dict[str, dict] = {}
    if args.reuse_teacher:
        previous = json.loads((args.out / f"{args.name}.json").read_text())
        rows["teacher"] = next(r for r in previous["rows"] if r["run"] == "teacher")
        rows["teacher"].setdefault("threads", int(previous.get("omp_num_threads") or previous["cpu_count"]))
        print(f"reusing the teacher run in {args.work / 'teacher'} (top-1 {rows['teacher']['top1_pytorch']}%)")
    else:
        teacher, timing = finish(*start(args.model, args.work / "teacher", args, "--epochs", str(args.teacher_epochs),
                                        *args.teacher_flags.split()), args.work / "teacher")
        rows["teacher"] = summary("teacher", teacher, timing, "teacher")
        write(args, rows)
    checkpoint = str(args.work / "teacher" / "model")
    students = (("pruned + KD", "--kd", "pruned_kd", "kd"), ("pruned, fine-tuned without KD", "--no-kd", "pruned",
                                                              "finetune"))
    runs = []
    if args.no_kd_student:
        students = students[:1]
    for name, kd, work, stage in students:  # KD first: the headline comparison, so a cut-short run still has it
        runs.append((name, stage, args.work / work,
                     start(checkpoint, args.work / work, args, "--prune", str(args.prune), kd, "--epochs",
                           str(args.student_epochs), "--lr", str(args.student_lr), threads=args.student_threads)))
        if not args.student_threads:  # one at a time on all cores
            name, stage, out, (proc, started) = runs.pop()
            report, timing = finish(proc, started, out)
            rows[name] = summary(name, report, timing, stage)
            write(args, rows)
    while runs:  # side by side, each on --student-threads: record each as it ends (its own wall time)
        pid, status, usage = os.wait4(-1, 0)
        done = next(run for run in runs if run[3][0].pid == pid)
        runs.remove(done)
        name, stage, out, (proc, started) = done
        proc.usage, proc.returncode, proc.ended = usage, os.waitstatus_to_exitcode(status), time.perf_counter()
        report, timing = finish(proc, started, out)
        rows[name] = summary(name, report, timing, stage)
        write(args, rows)


def ablation(args) -> None:
    """One teacher per row of ABLATION, one after the other on all cores; the table is rewritten after each."""
    rows = []
    for name, flags in ABLATION:
        out = args.work / ("ablation-" + "".join(c if c.isalnum() else "-" for c in name).strip("-"))
        report, timing = finish(*start(args.model, out, args, "--epochs", str(args.teacher_epochs), *flags), out)
        rows.append({**summary(name, report, timing, "teacher"), "flags": " ".join(flags),
                     "recipe": report.get("training_recipe", {}).get("name")})
        base = rows[0]["top1_pytorch"]
        host = machine()
        lines = [f"CPU: {host['cpu']} · SIMD: {', '.join(host['simd'])} · {host['cores']} cores", "",
                 f"Teachers of {args.model} at {args.img_size} px, {args.teacher_epochs} epoch(s), batch "
                 f"{args.batch_size}, {'all 60k' if not args.subset else args.subset} training images; top-1 on the "
                 "full 10k test split.", "",
                 "| teacher | flags | top-1 | vs family recipe | trainer img/s | train s | wall s |",
                 "|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['run']} | `{r['flags'] or '-'}` | {r['top1_pytorch']} | "
                         f"{r['top1_pytorch'] - base:+.2f} | {r['train_img_per_s']} | {r['train_s']} | {r['wall_s']} |")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "train_kd_ablation.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                                     **host, "rows": rows}, indent=2) + "\n")
        (args.out / "train_kd_ablation.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)


def write(args, rows: dict[str, dict]) -> None:
    """Rows in reading order (teacher, without KD, with KD), rewritten after every run."""
    order = ["teacher", "pruned, fine-tuned without KD", "pruned + KD"]
    table = [rows[name] for name in order if name in rows]
    teacher = (rows.get("teacher") or {}).get("top1_pytorch")
    args.out.mkdir(parents=True, exist_ok=True)
    host = machine()
    (args.out / f"{args.name}.json").write_text(json.dumps({"args": vars(args) | {"work": str(args.work),
                                                        "out": str(args.out)}, **host, "cpu_count": os.cpu_count(),
                                                        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                                                        "rows": table}, indent=2) + "\n")
    lines = [f"CPU: {host['cpu']} · SIMD: {', '.join(host['simd'])} · {host['cores']} cores · teacher flags "
             f"`{args.teacher_flags}`", "",
             "| run | top-1 PyTorch | vs teacher | top-1 ONNX | params | MMACs | ONNX p50 ms | trainer img/s | epochs "
             "| train s | wall s | CPU s | threads |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        delta = (f"{r['top1_pytorch'] - teacher:+.2f}" if r["run"] != "teacher" and teacher is not None
                 and r["top1_pytorch"] is not None else "")
        lines.append(f"| {r['run']} | {r['top1_pytorch']} | {delta} | {r['top1_onnx']} | {r['params']:,} | "
                     f"{r['macs'] / 1e6:.1f} | {r['onnx_p50_ms']} | {r['train_img_per_s']} | {r['epochs']} | "
                     f"{r['train_s']} | {r['wall_s']} | {r['cpu_s']} | {r.get('threads', '')} |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
