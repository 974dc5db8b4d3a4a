"""Latency-driven pruning measured on a device: `compress effnet_lite0 --prune-target latency=0.5 --device D`.

    python benchmarks/prune_latency_device.py [--device ssh:USER@HOST[:PORT]] [--target 0.5] [--img-size 64]

The ratio search times each candidate and the unpruned model interleaved on the device (ONNX over ssh,
.tflite over adb), then the run's bench stage times the shipped file and its FP32 baseline interleaved on the
same device. The check: that final p50 ratio is at most the target. Without --device a real OpenSSH server is
started on 127.0.0.1 (tests/devices/loopback_sshd.py), whose "device" is this machine. No training (--epochs 0):
latency does not depend on trained weights. Writes prune_latency_device.json/.md to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "devices"))
from loopback_sshd import loopback_device  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device")
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "prune_latency_device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekit-prune-device-") as tmp:
        server = None
        if args.device is None:
            server = loopback_device(Path(tmp))
            args.device = server.spec
        run_dir = Path(tmp) / "run"
        print(f"compress {args.model} --prune-target latency={args.target} --device {args.device} "
              "(a few minutes: 7 probes, each exported and timed on the device)")
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "edgekit", "compress", args.model, "--data", "synthetic",
                               "--img-size", str(args.img_size), "--epochs", "0", "--no-int8", "--formats", "onnx",
                               "--prune-target", f"latency={args.target}", "--device", args.device,
                               "--runs", str(args.runs), "--out", str(run_dir)], capture_output=True, text=True)
        seconds = time.monotonic() - started
        if server is not None:
            server.stop()
        if proc.returncode != 0:
            raise SystemExit(f"compress failed: {proc.stderr.strip()[-500:]}")
        report = json.loads((run_dir / "report.json").read_text())
    prune = next(s for s in report["stages"] if s["name"] == "prune")["metrics"]
    artifact, baseline = report["artifacts"][0], report["baseline"][0]
    ratio = artifact["latency_ms"]["p50"] / baseline["latency_ms"]["p50"]
    result = {"model": args.model, "device": args.device, "target": args.target, "img_size": args.img_size,
              "ratio_found": prune["ratio"], "probes": prune["target_search"],
              "shipped_p50_ms": artifact["latency_ms"]["p50"], "baseline_p50_ms": baseline["latency_ms"]["p50"],
              "latency_ratio": round(ratio, 4), "reached": ratio <= args.target, "seconds": round(seconds, 1),
              "cpu": report["env"].get("cpu"), "flags": report["env"].get("flags")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prune_latency_device.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# {args.model}: --prune-target latency={args.target} measured on {args.device}", "",
             f"CPU: {result['cpu']}; flags: {' '.join(result['flags'] or [])}; {args.img_size} px, 1 thread.", "",
             "| probe ratio | latency vs unpruned (on the device) |", "|---:|---:|"]
    lines += [f"| {p['ratio']:.3f} | {p['latency']:.3f} |" for p in result["probes"]]
    lines += ["", f"Chosen ratio {result['ratio_found']:.3f}; the shipped file vs its FP32 baseline, timed interleaved "
              f"on the device by the bench stage: p50 {result['shipped_p50_ms']:.3f} / "
              f"{result['baseline_p50_ms']:.3f} ms = **{result['latency_ratio']:.3f}** "
              f"({'reaches' if result['reached'] else 'MISSES'} the target {args.target}).", ""]
    (args.out / "prune_latency_device.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if result["reached"] else 1


if __name__ == "__main__":
    sys.exit(main())
