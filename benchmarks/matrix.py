"""The support matrix: for each zoo model, does prune 0.3, KD, INT8 QAT and INT8 PTQ work, and does each file
export and verify (parity, whole-split fidelity) in ONNX Runtime, LiteRT and ExecuTorch?

    .venv/bin/python benchmarks/matrix.py                          # every model in `edgekit models` (hours)
    .venv/bin/python benchmarks/matrix.py --models resnet18,deit_tiny --update   # rerun some, keep the other rows

Per model, three `edgekit compress` runs share one empty cache, so the teacher, pruning and KD run once:
FP32 (`--prune 0.3`, KD from the teacher), then `--int8 qat`, then `--int8 ptq`, each to ONNX, TFLite and .pte.
The models train briefly on a Fashion-MNIST subset: the matrix asks whether each step works, not how accurate the
model gets (benchmarks/families_fmnist.py and headline runs measure that), so the fidelity gate is off and its
agreement is reported. A cell is ✓ or the one-line reason. Writes benchmarks/results/matrix.{json,md}, with the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tiny_budget import machine
from zoo_matrix import last_line, models_and_sizes, parse_args, previous_rows, upsert

FORMATS = ("onnx", "tflite", "pte")
RUNS = {"fp32": (), "qat": ("--int8", "qat", "--qat-epochs", "0.25", "--calib-samples", "64"),
        "ptq": ("--int8", "ptq", "--calib-samples", "64")}
COMMON = ("--data", "fashion-mnist", "--subset", "256", "--epochs", "1", "--recover-epochs", "0.5", "--prune", "0.3",
          "--kd", "--eval-samples", "128", "--parity-samples", "8", "--no-bench", "--min-agreement-fp32", "0",
          "--min-agreement-int8", "0", "--formats", ",".join(FORMATS))
MODEL_STEPS = ("prune", "kd")


def compress(name: str, size: int, run: str, out: Path, env: dict) -> dict:
    """One `edgekit compress` of the matrix; its exit code, seconds, and report (None when it wrote none)."""
    cmd = [sys.executable, "-m", "edgekit", "compress", name, "--img-size", str(size), *COMMON, *RUNS[run],
           "--out", str(out / run)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    report_path = out / run / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    return {"exit_code": proc.returncode, "seconds": round(time.perf_counter() - start), "report": report,
            "reason": None if proc.returncode == 0 else last_line(proc.stderr, 160)}


def file_cell(artifact: dict | None, reason: str | None) -> dict:
    """One exported file: ok, parity's max |diff|, fidelity's agreement %, or why it failed."""
    if artifact is None:
        return {"ok": False, "reason": reason or "not exported"}
    parity, fidelity = artifact.get("parity") or {}, artifact.get("fidelity") or {}
    ok = artifact["status"] == "ok" and bool(parity.get("passed"))
    return {"ok": ok, "reason": None if ok else (artifact.get("error") or parity.get("error") or "parity failed"),
            "max_abs_diff": parity.get("max_abs_diff"), "agreement": fidelity.get("agreement"),
            "size_bytes": artifact.get("size_bytes")}


def stage_cell(report: dict | None, stage: str, reason: str | None) -> dict:
    """A model step (prune, kd, int8): ok when its stage ran (from the cache or not), else the run's reason."""
    record = next((s for s in (report or {}).get("stages", []) if s["name"] == stage), None)
    if record is None:
        return {"ok": False, "reason": reason or f"no {stage} stage in the report"}
    return {"ok": True, "metrics": {k: v for k, v in record.get("metrics", {}).items() if isinstance(v, (int, float))}}


def run_one(name: str, size: int, tmp: str) -> dict:
    out = Path(tmp) / name
    env = {**os.environ, "EDGEKIT_CACHE": str(out / "cache"), "OMP_NUM_THREADS": "1"}
    runs = {run: compress(name, size, run, out, env) for run in RUNS}
    row = {"model": name, "img_size": size, "seconds": sum(r["seconds"] for r in runs.values()),
           "exit_codes": {run: r["exit_code"] for run, r in runs.items()}}
    fp32 = runs["fp32"]
    row.update({step: stage_cell(fp32["report"], step, fp32["reason"]) for step in MODEL_STEPS})
    for run in ("qat", "ptq"):
        row[run] = stage_cell(runs[run]["report"], "int8", runs[run]["reason"])
    for run, result in runs.items():
        artifacts = {a["format"]: a for a in (result["report"] or {}).get("artifacts", [])}
        row[f"files_{run}"] = {fmt: file_cell(artifacts.get(fmt), result["reason"]) for fmt in FORMATS}
    shutil.rmtree(out, ignore_errors=True)  # the files and cache of a model: hundreds of MB each
    return row


def cells(row: dict) -> list[dict]:
    """The row's cells in the table's column order."""
    return [row[step] for step in (*MODEL_STEPS, "qat", "ptq")] + \
        [row[f"files_{run}"][fmt] for fmt in FORMATS for run in RUNS]


def mark(cell: dict) -> str:
    return "✓" if cell["ok"] else "✗ " + (cell.get("reason") or "?").replace("|", "/")[:90]


def markdown(rows: list[dict], host: dict) -> str:
    header = ["model", "px", "prune", "KD", "INT8 QAT", "INT8 PTQ"] + \
        [f"{fmt} {run}" for fmt in FORMATS for run in RUNS]
    full = sum(all(c["ok"] for c in cells(r)) for r in rows)
    lines = ["# Support matrix: prune 0.3, KD, INT8 QAT / PTQ, and each file verified in its runtime\n",
             f"`benchmarks/matrix.py`: per model `edgekit compress MODEL {' '.join(COMMON)}`, then with "
             "`--int8 qat`, then `--int8 ptq` (one cache: the model steps run once). A file's ✓ means it exported "
             "and passed parity with PyTorch in its own runtime; the JSON has each file's max |diff| and top-1 "
             f"agreement over the validation pass. CPU: {host['cpu']} ({', '.join(host['simd'])}), "
             f"{host['cores']} cores.\n",
             f"**{full} of {len(rows)} models have a ✓ in every cell.**\n",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['img_size']} | " + " | ".join(mark(c) for c in cells(r)) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args(__doc__, "all")
    rows = previous_rows(args.out / "matrix.json", args.update)
    pairs, host = models_and_sizes(args.models, args.img_size), machine()
    print(f"matrix: {len(pairs)} models, three compress runs each (a few minutes per model)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, size) in enumerate(pairs, 1):
            print(f"[{i}/{len(pairs)}] {name} at {size} px", flush=True)
            upsert(rows, {**run_one(name, size, tmp), "machine": host})
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "matrix.json").write_text(json.dumps(rows, indent=2) + "\n")
            (args.out / "matrix.md").write_text(markdown(rows, host))


if __name__ == "__main__":
    main()
