"""The regression gate against a reference, on this host and over ssh: identical files pass, slower ones fail.

    python benchmarks/reference_gate.py [--device ssh:USER@HOST[:PORT]] [--img-size 128] [--runs 200]

"main" is a run directory made here (`edgekit compress effnet_lite0 --prune 0.25 --data synthetic --epochs 0
--formats onnx`, random init: timing does not depend on trained weights), as a pull request's CI would download it.
Then, on each device (this host, then ssh: a real OpenSSH server on 127.0.0.1 with throwaway keys whose "device" is
this machine, tests/devices/loopback_sshd.py, unless --device names a board):

- `compress` of main's recipe again with `--reference main --budget`: the same file, must pass (exit 0);
- `compress` without the pruning (the pull request dropped it) with `--reference main --budget`: must fail (exit 1);
- `bench COPY --baseline main/effnet_lite0.onnx --budget`: a byte copy, must pass;
- `bench SLOWED --baseline main/effnet_lite0.onnx --budget`: a copy made --slowdown × slower (a data-dependent
  MatMul branch added to the logits times zero: same outputs, and onnxruntime cannot fold it; calibrated here),
  must fail, with the slowdown (>= 10%) measured in that same invocation.

Budget: `max_latency_ratio_vs_reference: 1.10`, `max_size_growth: 1.02`. Writes reference_gate.json and
reference_gate.md to --out; exits 1 when a criterion is not met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "devices"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
from loopback_sshd import loopback_device  # noqa: E402

BUDGET = ("budgets:\n  - name: no slower or bigger than main\n    match: {format: onnx}\n"
          "    max_latency_ratio_vs_reference: 1.10\n    max_size_growth: 1.02\n")
MIN_SLOWDOWN = 1.10


def edgekit(args: list[str], cwd: Path, env: dict) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "edgekit", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def calibrate(source: Path, target: Path, slowdown: float, size: int = 128) -> dict:
    """A slowed copy of `source` about `slowdown` × slower at 1 thread (two rounds of timing, matmuls adjusted)."""
    import numpy as np
    import onnxruntime as ort
    from doubles import slowed_onnx

    from edgekit.runtimes.worker import example_input, interleaved

    def ratio(path: Path) -> float:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        sessions = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in (path, source)]
        x = example_input(sessions[0].get_inputs()[0].shape)
        name = sessions[0].get_inputs()[0].name
        timed = interleaved([lambda s=s: s.run(None, {name: x}) for s in sessions], 10, 100)
        return float(np.median(timed[0][0]) / np.median(timed[1][0]))

    matmuls, steps = 16, []
    for _ in range(3):
        slowed_onnx(source, target, matmuls=matmuls, size=size)
        measured = ratio(target)
        steps.append({"matmuls": matmuls, "size": size, "ratio": round(measured, 4)})
        if abs(measured - slowdown) < 0.05:
            break
        matmuls = max(1, round(matmuls * (slowdown - 1) / max(measured - 1, 0.01)))
    return {"target": slowdown, "steps": steps, "matmuls": steps[-1]["matmuls"], "size": size,
            "ratio_in_process": steps[-1]["ratio"]}


def gate_summary(code: int, gate: dict) -> dict:
    """The exit code and, per check, what the gate decided on."""
    checks = {c["limit_key"]: {"verdict": c["verdict"], "observed": c["observed"],
                               "ci": (c.get("test") or {}).get("ci"), "detail": c["detail"]} for c in gate["checks"]}
    return {"exit_code": code, "verdict": gate["verdict"], "checks": checks}


def run_device(device: str, folder: Path, files: dict, args, env: dict) -> dict:
    common = ["--runs", str(args.runs), "--warmup", "20", "--threads", "1", "--device", device]
    compress = ["compress", "effnet_lite0", "--data", "synthetic", "--img-size", str(args.img_size), "--epochs", "0",
                "--formats", "onnx", *common, "--reference", "main", "--budget", "budget.yaml", "--overwrite"]
    tag = "local" if device == "local" else "ssh"
    out: dict = {"device": device}
    for name, extra in (("compress_same", ["--prune", "0.25"]), ("compress_unpruned", [])):
        run_dir = folder / f"{name}_{tag}"
        code, _, err = edgekit([*compress, *extra, "--out", run_dir.name], folder, env)
        if not (run_dir / "report.json").is_file():
            raise SystemExit(f"{name} on {device} failed (exit {code}): {err.strip()[-2000:]}")
        report = json.loads((run_dir / "report.json").read_text())
        versus = report["artifacts"][0]["vs_reference"]
        out[name] = {**gate_summary(code, report["gate"]), "p50_ms": report["artifacts"][0]["latency_ms"]["p50"],
                     "reference_p50_ms": versus["latency_ms"]["p50"], "p50_ratio": versus["ratio"],
                     "p50_ratio_ci": versus["ratio_ci"], "size_growth": versus["size_growth"],
                     "latency_device": versus["latency_ms"]["device"]}
    for name, candidate in (("bench_copy", files["copy"]), ("bench_slowed", files["slowed"])):
        code, stdout, err = edgekit(["bench", str(candidate), "--baseline", str(files["main"]), "--budget",
                                     "budget.yaml", *common, "--json"], folder, env)
        if not stdout.strip():
            raise SystemExit(f"{name} on {device} failed (exit {code}): {err.strip()[-2000:]}")
        result = json.loads(stdout)
        comparison = result["comparisons"][0]
        out[name] = {**gate_summary(code, result["gate"]), "p50_ms": comparison["candidate_p50"],
                     "reference_p50_ms": comparison["baseline_p50"], "p50_ratio": comparison["ratio"],
                     "p50_ratio_ci": comparison["ratio_ci"], "latency_device": result["settings"]["device"]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", help="ssh:USER@HOST[:PORT] (default: a loopback sshd started here)")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--slowdown", type=float, default=1.25, help="how much slower the slowed copy is made")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "reference_gate")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edgekit-reference-gate-") as tmp:
        folder = Path(tmp)
        server = None
        if args.device is None:  # sets EDGEKIT_SSH_OPTIONS and EDGEKIT_DEVICE_PYTHON for the commands below
            (folder / "sshd").mkdir()
            server = loopback_device(folder / "sshd")
            args.device = server.spec
        env = {**os.environ, "EDGEKIT_CACHE": str(folder / "cache"), "PYTHONPATH": str(REPO)}
        env.pop("EDGEKIT_DEBUG", None)
        try:
            (folder / "budget.yaml").write_text(BUDGET)
            print(f"main: compress effnet_lite0 --prune 0.25 at {args.img_size} px (a minute or two)")
            code, _, err = edgekit(["compress", "effnet_lite0", "--data", "synthetic", "--img-size", str(args.img_size),
                                    "--epochs", "0", "--formats", "onnx", "--prune", "0.25", "--runs", "20",
                                    "--out", "main"], folder, env)
            if code != 0:
                raise SystemExit(f"compress of main failed: {err.strip()[-2000:]}")
            main_file = folder / "main" / "effnet_lite0.onnx"
            files = {"main": main_file, "copy": folder / "copy.onnx", "slowed": folder / "slowed.onnx"}
            shutil.copyfile(main_file, files["copy"])
            print(f"calibrating a copy about {args.slowdown}x slower")
            calibration = calibrate(main_file, files["slowed"], args.slowdown)
            sizes = {name: path.stat().st_size for name, path in files.items()}
            devices = {}
            for device in ("local", args.device):
                print(f"on {device}: compress x2, bench x2 ({args.runs} interleaved runs per file)")
                devices["local" if device == "local" else "ssh"] = run_device(device, folder, files, args, env)
        finally:
            if server is not None:
                server.stop()
    results = {"model": f"effnet_lite0 @{args.img_size} px (random init), main = --prune 0.25", "budget": BUDGET,
               "runs": args.runs, "calibration": calibration, "sizes": sizes, "devices": devices,
               "seconds": round(time.monotonic() - started, 1), "env": environment()}
    results["criteria"] = criteria(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reference_gate.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "reference_gate.md").write_text(markdown(results))
    sys.stdout.write(markdown(results))
    return 0 if all(results["criteria"].values()) else 1


def environment() -> dict:
    from edgekit.bench.environment import environment as env

    found = env(1)
    return {key: found.get(key) for key in ("cpu", "cores", "flags", "load_average", "onnxruntime", "python")}


def criteria(results: dict) -> dict[str, bool]:
    out = {}
    for tag, d in results["devices"].items():
        out[f"{tag}: compress, same recipe: pass (exit 0)"] = d["compress_same"]["exit_code"] == 0
        out[f"{tag}: compress without pruning: latency and size fail (exit 1)"] = (
            d["compress_unpruned"]["exit_code"] == 1
            and d["compress_unpruned"]["checks"]["max_latency_ratio_vs_reference"]["verdict"] == "fail")
        out[f"{tag}: bench, byte copy: pass (exit 0)"] = d["bench_copy"]["exit_code"] == 0
        out[f"{tag}: bench, slowed copy >= {MIN_SLOWDOWN:.2f}x slower in the same run"] = (
            d["bench_slowed"]["p50_ratio"] >= MIN_SLOWDOWN)
        out[f"{tag}: bench, slowed copy: latency fails, size passes (exit 1)"] = (
            d["bench_slowed"]["exit_code"] == 1
            and d["bench_slowed"]["checks"]["max_latency_ratio_vs_reference"]["verdict"] == "fail"
            and d["bench_slowed"]["checks"]["max_size_growth"]["verdict"] == "pass")
    return out


def markdown(results: dict) -> str:
    env, cal = results["env"], results["calibration"]
    lines = [f"# Regression gate against a reference ({results['model']})", "",
             f"{env['cpu']} ({env['cores']} cores, load average {env['load_average']}), onnxruntime "
             f"{env.get('onnxruntime')}, 1 thread, {results['runs']} interleaved runs per file; ssh: a real OpenSSH "
             "server on 127.0.0.1 whose device is this machine. Budget: `max_latency_ratio_vs_reference: 1.10`, "
             "`max_size_growth: 1.02` (alpha 0.002).", "",
             f"Slowed copy: {cal['matmuls']} extra {cal['size']}×{cal['size']} MatMul+Tanh steps on a branch that "
             f"depends on the input, added to the logits times zero (same outputs); {cal['ratio_in_process']:.3f}× "
             f"slower when calibrated in-process; {results['sizes']['slowed']:,} vs {results['sizes']['main']:,} "
             "bytes.", "",
             "| device | command | p50 ms | reference p50 ms | p50 ratio (95% CI) | gate ratio (HL) [CI] | size growth "
             "| verdict | exit |", "|---|---|---|---|---|---|---|---|---|"]
    names = {"compress_same": "compress, same recipe, `--reference main`",
             "compress_unpruned": "compress without `--prune`, `--reference main`",
             "bench_copy": "bench byte copy `--baseline main's file`", "bench_slowed": "bench slowed copy `--baseline`"}
    for tag, d in results["devices"].items():
        for key, name in names.items():
            r = d[key]
            ratio = r["checks"]["max_latency_ratio_vs_reference"]
            ci = ratio["ci"] or [None, None]
            size = r["checks"]["max_size_growth"]["observed"]
            lines.append(f"| {tag} | {name} | {r['p50_ms']:.3f} | {r['reference_p50_ms']:.3f} | {r['p50_ratio']:.3f} "
                         f"({r['p50_ratio_ci'][0]:.3f}–{r['p50_ratio_ci'][1]:.3f}) | {ratio['observed']:.3f} "
                         f"[{ci[0]:.3f}, {ci[1]:.3f}] | {size:.3f} | {r['verdict']} | {r['exit_code']} |")
    lines += ["", *[f"- {'met' if ok else 'NOT MET'}: {name}" for name, ok in results["criteria"].items()],
              "", f"Took {results['seconds']:.0f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
