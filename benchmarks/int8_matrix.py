"""`edgekit compress MODEL --prune 0.3 --int8 ptq --quant-backend pt2e` per family: does each pruned INT8 file
verify in every runtime?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/int8_matrix.py                 # one model per family
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/int8_matrix.py --models all    # every model in `edgekit models`
    ... --models mbv2_100 --update     # rerun some models, keep the other rows
Synthetic data, PTQ with the pt2e backend (accuracy and the nncf backend are benchmarks/int8.py's job).
Writes benchmarks/results/int8_matrix.{json,md}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo_matrix import last_line, models_and_sizes, parse_args, previous_rows, upsert

DEFAULT = ("effnet_lite0,effnet_b0,effnetv2_b0,mbv2_100,mbv3_large,mbv4_conv_small,resnet18,regnetx_002,"
           "convnext_atto,repvit_m1,mobileone_s0,ghostnet_100,deit_tiny,vit_tiny,mobilevit_xs,mobilevitv2_050,"
           "swin_tiny,efficientformer_l1,levit_128s,tiny_vit_5m,coatnet_0,botnet26t,fastvit_t8,edgenext_xx_small,"
           "t2t_vit_7")
DEFAULT += ",skipnet_resnet18"
DEFAULT += ",dy_mbv3_small"


def run_one(name: str, size: int, tmp: str) -> dict:
    out = Path(tmp) / name
    cmd = [sys.executable, "-m", "edgekit", "compress", name, "--prune", "0.3", "--int8", "ptq", "--quant-backend",
           "pt2e", "--data", "synthetic", "--img-size", str(size), "--formats", "onnx,tflite,pte", "--runs", "5",
           "--threads", "1", "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    row = {"model": name, "img_size": size, "exit_code": proc.returncode, "seconds": round(time.perf_counter() - start)}
    if (out / "report.json").is_file():
        report = json.loads((out / "report.json").read_text())
        row["formats"] = {a["format"]: {"status": a["status"], "size_ratio": (a.get("vs_fp32") or {}).get("size_ratio"),
                                        "int8_ops": (a.get("int8_census") or {}).get("int8_ops"),
                                        "float_ops": (a.get("int8_census") or {}).get("float_ops"),
                                        "error": a.get("error")} for a in report["artifacts"]}
    else:
        row["error"] = last_line(proc.stderr)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["# `compress --prune 0.3 --int8 ptq --quant-backend pt2e` per model: export + verify in every runtime "
             "(synthetic data)\n",
             "Cells: status, size vs FP32, integer/float ops in that runtime.\n",
             "| model | px | exit | onnx | tflite | pte | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{f['status']} {f['size_ratio']}× {f['int8_ops']}/{f['float_ops']}" if f["status"] == "ok"
                 else f"failed: {(f['error'] or '')[:80]}" for f in (r.get("formats") or {}).values()] or ["-"] * 3
        lines.append(f"| {r['model']} | {r['img_size']} | {r['exit_code']} | " + " | ".join(cells)
                     + f" | {r.get('error', '')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args(__doc__, DEFAULT)
    rows = previous_rows(args.out / "int8_matrix.json", args.update)
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in models_and_sizes(args.models, args.img_size):
            upsert(rows, run_one(name, size, tmp))
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "int8_matrix.json").write_text(json.dumps(rows, indent=2) + "\n")
            (args.out / "int8_matrix.md").write_text(markdown(rows))


if __name__ == "__main__":
    main()
