"""Export + verify + time a list of zoo models in every format (FP32) and tabulate the results.

    .venv/bin/python benchmarks/export_matrix.py                    # the foundation issue's list, 64 px
    .venv/bin/python benchmarks/export_matrix.py --models all       # every registered model
Writes benchmarks/results/export_matrix.{json,md}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo_matrix import last_line, models_and_sizes, parse_args

DEFAULT = "effnet_lite0,effnet_b0,mobilevit_xs,mbv3_large,resnet18,convnext_atto,deit_tiny,swin_tiny"


def main() -> None:
    args = parse_args(__doc__, DEFAULT)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in models_and_sizes(args.models, args.img_size):
            start = time.perf_counter()
            cmd = [sys.executable, "-m", "edgekit", "compress", name, "--data", "synthetic", "--img-size", str(size),
                   "--epochs", "0", "--formats", "onnx,tflite,pte", "--runs", "30", "--out", f"{tmp}/{name}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            report_path = Path(tmp, name, "report.json")
            if not report_path.is_file():
                rows.append({"model": name, "img_size": size, "ok": False, "seconds": round(seconds, 1),
                             "error": last_line(proc.stderr, 200), "artifacts": []})
            else:
                report = json.loads(report_path.read_text())
                rows.append({"model": name, "img_size": size, "ok": report["ok"], "seconds": round(seconds, 1),
                             "artifacts": [{k: a.get(k) for k in ("format", "status", "size_bytes", "parity",
                                                                   "latency_ms", "fallback_ops", "error")}
                                           for a in report["artifacts"]], "env": report["env"]})
            print(f"{name:20s} {size:4d}px ok={rows[-1]['ok']} {seconds:.0f}s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "export_matrix.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "export_matrix.md").write_text(markdown(rows))


def markdown(rows: list[dict]) -> str:
    lines = ["| model | px | format | status | max abs diff | top-1 agree | p50 ms (1 thread) | not on fast path |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if not row["artifacts"]:
            lines.append(f"| {row['model']} | {row['img_size']} | - | failed: {row['error']} | | | | |")
        for a in row["artifacts"]:
            par, lat = a.get("parity") or {}, a.get("latency_ms") or {}
            lines.append(f"| {row['model']} | {row['img_size']} | {a['format']} | {a['status']} | "
                         f"{par.get('max_abs_diff', '-')} | {par.get('top1_agreement', '-')} | {lat.get('p50', '-')} | "
                         f"{', '.join(a.get('fallback_ops') or []) or '-'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
