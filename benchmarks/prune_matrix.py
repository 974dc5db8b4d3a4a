"""`edgekit compress MODEL --prune 0.3` through every format, per zoo model: does each pruned file verify?

    .venv/bin/python benchmarks/prune_matrix.py                       # one model per attention family + convnets
    .venv/bin/python benchmarks/prune_matrix.py --models all          # every model in `edgekit models` (about an hour)
    .venv/bin/python benchmarks/prune_matrix.py --models X,Y --update # rerun X and Y, keep the other rows
Writes benchmarks/results/prune_matrix.{json,md}. Run with OMP_NUM_THREADS=1 (each compress also gets --threads 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo_matrix import last_line, models_and_sizes, parse_args, previous_rows, upsert

DEFAULT = ("deit_tiny,mobilevit_xs,mobilevitv2_050,swin_tiny,efficientformer_l1,levit_128s,tiny_vit_5m,coatnet_0,"
           "botnet26t,fastvit_t8,edgenext_xx_small,convnext_atto,repvit_m1,mbv3_large,effnet_b0,ghostnet_100,t2t_vit_7")
DEFAULT += ",skipnet_resnet18"
DEFAULT += ",dy_mbv3_small"


def run_one(name: str, size: int, tmp: str) -> dict:
    cmd = [sys.executable, "-m", "edgekit", "compress", name, "--prune", "0.3", "--no-int8", "--no-kd", "--epochs", "0",
           "--data", "synthetic", "--img-size", str(size), "--formats", "onnx,tflite,pte", "--runs", "10", "--threads", "1",
           "--out", f"{tmp}/{name}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    row = {"model": name, "img_size": size, "exit_code": proc.returncode, "seconds": round(time.perf_counter() - start)}
    report = Path(tmp) / name / "report.json"
    if report.is_file():
        data = json.loads(report.read_text())
        metrics = next(s for s in data["stages"] if s["name"] == "prune")["metrics"]
        row.update(macs_ratio=metrics["macs_ratio"], params_ratio=metrics["params_ratio"],
                   attention_kept_full_width=len(metrics["attention_kept_full_width"]),
                   formats={a["format"]: {"status": a["status"], "max_abs_diff": (a["parity"] or {}).get("max_abs_diff")}
                            for a in data["artifacts"]})
    else:
        row["error"] = last_line(proc.stderr)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["# `compress --prune 0.3` per model: export + verify in every runtime (synthetic data)\n",
             "| model | px | exit | MAC ratio | onnx | tflite | pte | note |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{f['status']} ({f['max_abs_diff']:.1e})" if f.get("max_abs_diff") is not None else f["status"]
                 for f in (r.get("formats") or {}).values()] or ["-", "-", "-"]
        note = r.get("error", "") or (f"{r['attention_kept_full_width']} attention module(s) kept at full width"
                                      if r.get("attention_kept_full_width") else "")
        lines.append(f"| {r['model']} | {r['img_size']} | {r['exit_code']} | {r.get('macs_ratio', '-')} | "
                     + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args(__doc__, DEFAULT)
    from edgekit.models import MODELS

    if args.models == "all":  # the whole `edgekit models` list, test models included
        args.models = ",".join(MODELS.names())
    rows = previous_rows(args.out / "prune_matrix.json", args.update)
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in models_and_sizes(args.models, args.img_size):
            upsert(rows, run_one(name, size, tmp))
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "prune_matrix.json").write_text(json.dumps(rows, indent=2) + "\n")
            (args.out / "prune_matrix.md").write_text(markdown(rows))


if __name__ == "__main__":
    main()
