"""ssh device vs local, side by side: the same .onnx/.tflite/.pte files timed here and over ssh in one invocation.

    python benchmarks/devices_ssh.py [--device ssh:USER@HOST[:PORT]] [--img-size 64] [--rounds 3] [--out DIR]

Without --device it starts a real OpenSSH server on 127.0.0.1 with throwaway keys (tests/devices/
loopback_sshd.py; needs openssh-server) whose "device" is this machine, so both sides must agree: the check is
that `edgekit bench --device ssh:...` reports the same keys as a local run and each file's p50 is within 20% of
its local p50 (local and ssh runs alternate, `--rounds` times each; medians compared). Files: a randomly
initialised efficientnet_lite0 (timing does not depend on trained weights), exported with edgekit's exporters.
Writes devices_ssh.json and devices_ssh.md (with the CPU's SIMD flags) to --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "devices"))
from loopback_sshd import loopback_device  # noqa: E402

TOLERANCE = 0.20


def export_files(folder: Path, img_size: int) -> list[Path]:
    import timm
    import torch

    from edgekit.exporters import export

    model = timm.create_model("efficientnet_lite0", num_classes=10).eval()
    paths = []
    for fmt in ("onnx", "tflite", "pte"):
        path = folder / f"effnet_lite0.{fmt}"
        export(fmt, model, torch.zeros(1, 3, img_size, img_size), path)
        paths.append(path)
    return paths


def bench(paths: list[Path], device: str, runs: int) -> dict:
    command = [sys.executable, "-m", "edgekit", "bench", *map(str, paths), "--runs", str(runs), "--warmup", "10",
               "--device", device, "--json"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"edgekit bench --device {device} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", help="ssh:USER@HOST[:PORT] (default: a loopback sshd started here)")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "devices_ssh")
    args = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory(prefix="edgekit-devices-ssh-") as tmp:
        if args.device is None:
            server = loopback_device(Path(tmp))
            args.device = server.spec
        started = time.monotonic()
        print(f"exporting efficientnet_lite0 at {args.img_size} px to three formats (about a minute)")
        paths = export_files(Path(tmp), args.img_size)
        print(f"timing {args.rounds} x (local, ssh) rounds of {args.runs} runs per file (a few minutes)")
        runs = {"local": [], "ssh": []}
        for index in range(args.rounds):
            for side in (("local", "ssh") if index % 2 == 0 else ("ssh", "local")):
                runs[side].append(bench(paths, "local" if side == "local" else args.device, args.runs))
                print(f"  round {index + 1} {side}: done")
        if server is not None:
            server.stop()
    local, remote = runs["local"][0], runs["ssh"][0]
    same_keys = (set(local) == set(remote) and set(local["env"]) <= set(remote["env"])
                 and all(set(a) == set(b) and set(a["latency_ms"]) == set(b["latency_ms"])
                         for a, b in zip(local["results"], remote["results"])))
    rows = []
    for i, path in enumerate(paths):
        here = statistics.median(r["results"][i]["latency_ms"]["p50"] for r in runs["local"])
        there = statistics.median(r["results"][i]["latency_ms"]["p50"] for r in runs["ssh"])
        rows.append({"file": path.name, "local_p50_ms": here, "ssh_p50_ms": there,
                     "ratio": round(there / here, 3), "within_20pct": abs(there / here - 1) <= TOLERANCE})
    result = {"device": args.device, "img_size": args.img_size, "rounds": args.rounds, "runs": args.runs,
              "same_report_keys": same_keys, "files": rows, "cpu": local["env"]["cpu"],
              "flags": local["env"]["flags"], "seconds": round(time.monotonic() - started, 1),
              "ok": same_keys and all(r["within_20pct"] for r in rows)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "devices_ssh.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# ssh device vs local ({args.device})", "",
             f"CPU: {result['cpu']}; flags: {' '.join(result['flags'])}; 1 thread; {args.rounds} alternating "
             f"rounds of {args.runs} runs per side; medians of the rounds' p50.", "",
             f"Same report keys: {'yes' if same_keys else 'NO'}", "",
             "| file | local p50 ms | ssh p50 ms | ssh / local | within 20% |", "|---|---:|---:|---:|:---:|"]
    lines += [f"| {r['file']} | {r['local_p50_ms']:.3f} | {r['ssh_p50_ms']:.3f} | {r['ratio']:.3f} | "
              f"{'yes' if r['within_20pct'] else 'NO'} |" for r in rows]
    (args.out / "devices_ssh.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
