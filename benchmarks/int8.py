"""INT8 against FP32, side by side: speed and size at 224 px, and accuracy on Fashion-MNIST (QAT and PTQ).

    .venv/bin/python benchmarks/int8.py speed                       # effnet_lite0 at 224 px, PTQ, 3 formats
    .venv/bin/python benchmarks/int8.py accuracy                    # effnet_lite0, mbv3_large, mobilevit_xs at 64 px
    .venv/bin/python benchmarks/int8.py accuracy --models effnet_lite0 --modes ptq   # a quicker look
    .venv/bin/python benchmarks/int8.py chain                       # compress effnet_b0 --prune 0.3 --int8, end to end
Every number comes from the runs' report.json (each INT8 file is timed interleaved with its FP32 baseline, and its
top-1 is measured by running the full 10k test split through the file in its own runtime).
Writes benchmarks/results/int8_{speed,accuracy,chain}.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = "onnx,tflite,pte"


def compress(model: str, out: Path, *extra: str) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "edgekit", "compress", model, "--formats", FORMATS, "--out", str(out),
           "--overwrite", *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return json.loads((out / "report.json").read_text()), time.perf_counter() - start


def rows_of(report: dict, mode: str, seconds: float) -> list[dict]:
    baseline = {b["format"]: b for b in report["baseline"]}
    rows = []
    for a in report["artifacts"]:
        base = baseline[a["format"]]
        census = a.get("int8_census") or {}
        rows.append({
            "model": report["model"], "mode": mode, "format": a["format"], "status": a["status"],
            "fp32_top1": (base.get("accuracy") or {}).get("top1"), "int8_top1": (a.get("accuracy") or {}).get("top1"),
            "top1_drop": (a.get("vs_fp32") or {}).get("top1_drop"),
            "fp32_mb": round(base["size_bytes"] / 1e6, 2), "int8_mb": round(a["size_bytes"] / 1e6, 2),
            "size_ratio": (a.get("vs_fp32") or {}).get("size_ratio"),
            "fp32_p50_ms": (base.get("latency_ms") or {}).get("p50"), "int8_p50_ms": (a.get("latency_ms") or {}).get("p50"),
            "speedup": _ratio((base.get("latency_ms") or {}).get("p50"), (a.get("latency_ms") or {}).get("p50")),
            "int8_ops": census.get("int8_ops"), "float_ops": census.get("float_ops"),
            "float_op_types": ", ".join(census.get("float_op_types", {})),
            "parity_max_abs_diff": (a.get("parity") or {}).get("max_abs_diff"),
            "top1_agreement": (a.get("parity") or {}).get("top1_agreement"), "wall_s": round(seconds)})
    return rows


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


def write(name: str, rows: list[dict], args, columns: list[str]) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"args": {k: str(v) for k, v in vars(args).items()}, "cpu_count": os.cpu_count(),
            "loadavg": os.getloadavg()}
    (args.out / f"int8_{name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("-" if r.get(c) is None else str(r[c]) for c in columns) + " |" for r in rows]
    (args.out / f"int8_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


SPEED_COLUMNS = ["model", "format", "fp32_mb", "int8_mb", "size_ratio", "fp32_p50_ms", "int8_p50_ms", "speedup",
                 "int8_ops", "float_ops", "float_op_types"]


def previous_rows(args, name: str) -> list[dict]:
    """Rows of earlier runs of this benchmark (kept unless a run replaces them)."""
    path = args.out / f"int8_{name}.json"
    return json.loads(path.read_text())["rows"] if path.is_file() else []


def speed(args) -> None:
    report, seconds = compress(args.model, args.work / f"speed-{args.model}", "--int8", "ptq", "--data", "synthetic",
                               "--img-size", str(args.img_size), "--runs", str(args.runs), "--threads", "1")
    rows = [r for r in previous_rows(args, "speed") if r["model"] != report["model"]]
    write("speed", rows + rows_of(report, "ptq", seconds), args, SPEED_COLUMNS)


ACCURACY_COLUMNS = ["model", "mode", "backend", "format", "fp32_top1", "int8_top1", "top1_drop", "size_ratio", "speedup",
                    "float_op_types", "top1_agreement", "wall_s"]


def accuracy(args) -> None:
    runs = [(model, mode, backend) for model in args.models.split(",") for mode in args.modes.split(",")
            for backend in args.backends.split(",") if not (mode == "qat" and backend == "nncf")]
    # rows of earlier sweeps stay unless this sweep reruns them
    rows = [dict(r, backend=r.get("backend", "pt2e")) for r in previous_rows(args, "accuracy")]
    rows = [r for r in rows if (r["model"], r["mode"], r["backend"]) not in runs]
    for model, mode, backend in runs:
        report, seconds = compress(model, args.work / f"acc-{model}-{mode}-{backend}", "--int8", mode,
                                   "--quant-backend", backend, "--data", "fashion-mnist", "--img-size",
                                   str(args.img_size), "--subset", str(args.subset), "--epochs", str(args.epochs),
                                   "--runs", "20")
        rows += [dict(r, backend=backend) for r in rows_of(report, mode, seconds)]
        write("accuracy", rows, args, ACCURACY_COLUMNS)  # after every run, so a long sweep keeps what it has


CHAIN_COLUMNS = ["model", "mode", "format", "fp32_top1", "int8_top1", "top1_drop", "size_ratio", "fp32_p50_ms",
                 "int8_p50_ms", "speedup", "int8_ops", "float_ops", "float_op_types", "top1_agreement", "wall_s"]


def chain(args) -> None:
    """The README's headline: prune 0.3 → KD → QAT → three INT8 files, against the unpruned FP32 teacher's files."""
    report, seconds = compress(args.model, args.work / f"chain-{args.model}", "--prune", "0.3", "--int8",
                               "--data", "fashion-mnist", "--img-size", str(args.img_size), "--subset",
                               str(args.subset), "--epochs", str(args.epochs), "--runs", str(args.runs),
                               "--threads", "1")
    mode = next(s["metrics"]["mode"] for s in report["stages"] if s["name"] == "int8")
    write("chain", rows_of(report, mode, seconds), args, CHAIN_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["speed", "accuracy", "chain"])
    parser.add_argument("--model", default=None, help="speed: the model (effnet_lite0); chain: effnet_b0")
    parser.add_argument("--img-size", type=int, default=None, help="default: 224 (speed), 64 (accuracy)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--models", default="effnet_lite0,mbv3_large,mobilevit_xs")
    parser.add_argument("--modes", default="qat,ptq")
    parser.add_argument("--backends", default="pt2e", help="accuracy: pt2e and/or nncf (nncf is PTQ only)")
    parser.add_argument("--subset", type=int, default=None, help="training images (accuracy: 20000, the demo's "
                        "subset; chain: 5000)")
    parser.add_argument("--epochs", type=int, default=None, help="teacher epochs (accuracy: 3, the demo's; chain: 2; "
                        "teachers are cached)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench-int8"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    args.img_size = args.img_size or (224 if args.what == "speed" else 64)
    args.model = args.model or ("effnet_b0" if args.what == "chain" else "effnet_lite0")
    args.subset = args.subset or (5000 if args.what == "chain" else 20000)
    args.epochs = args.epochs or (2 if args.what == "chain" else 3)
    {"speed": speed, "accuracy": accuracy, "chain": chain}[args.what](args)


if __name__ == "__main__":
    main()
