"""edgekit against the peers' own one-liners, from the same FP32 model, calibration images and test images.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers.py                       # effnet_lite0, full 10k test split
    .venv/bin/python benchmarks/peers.py --models effnet_lite0,resnet18 --eval-samples 2000 --runs 30
    .venv/bin/python benchmarks/peers.py --checkpoint RUN/model                 # an FP32 checkpoint edgekit wrote

Per model: the FP32 teacher (`--checkpoint`, or trained here with `edgekit compress MODEL --no-int8`), then rows

  edgekit PTQ / QAT      `edgekit compress CHECKPOINT --int8 ptq|qat --formats onnx,tflite,pte`
  onnxruntime            quant_pre_process + quantize_static (QDQ, per-channel) on edgekit's FP32 .onnx
  NNCF                   nncf.quantize on edgekit's FP32 .onnx
  ai-edge-quantizer      recipe.static_wi8_ai8 (calibrated) on edgekit's FP32 .tflite
  ExecuTorch             its XNNPACK PT2E flow (XNNPACKQuantizer symmetric per-channel) -> .pte
  Torch-Pruning          MetaPruner, magnitude, same ratio, no rounding, plain cross-entropy fine-tune -> FP32 .onnx
  edgekit prune + KD     `edgekit compress CHECKPOINT --prune RATIO --no-int8 --formats onnx`

The peers (benchmarks/peers_make.py) get the calibration images edgekit's int8 stage draws (its own function,
same subset and seed); every file is then run in its own runtime (edgekit.runtimes.open_session) on the same test
images: top-1, top-1 agreement with the FP32 PyTorch model, and p50 latency at 1 and 2 threads with all files of
one runtime timed interleaved in one process (edgekit.bench.measure.interleaved), speed-up against the FP32 file
of that runtime with a bootstrap CI. Each peer is then compared with edgekit's rows of its format, paired: the
top-1 difference on the same images (tie when its 95% interval holds 0) and the p50 ratio from the same interleaved
timing (tie when its interval holds 1). Writes benchmarks/results/peers.{md,json} with the CPU name and SIMD flags.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FORMATS = ("onnx", "tflite", "pte")
RUNTIME = {"onnx": "onnxruntime", "tflite": "LiteRT", "pte": "ExecuTorch"}
#: (row, producer, format): producer "ek:MODE" is an edgekit run, anything else a peer of peers_make.PEERS
ROWS = [("FP32 (edgekit export)", "ek:fp32", f) for f in FORMATS] + \
       [("edgekit PTQ", "ek:ptq", f) for f in FORMATS] + [("edgekit QAT", "ek:qat", f) for f in FORMATS] + [
    ("onnxruntime quantize_static (defaults: S8 activations)", "ort", "onnx"),
    ("onnxruntime quantize_static, U8 activations", "ort-u8", "onnx"), ("NNCF quantize", "nncf", "onnx"),
    ("ai-edge-quantizer static_wi8_ai8", "aeq", "tflite"), ("ExecuTorch XNNPACK PT2E", "executorch", "pte"),
    ("Torch-Pruning + CE fine-tune", "torch-pruning", "onnx"), ("edgekit prune + KD", "ek:prune", "onnx")]
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.0f} s] {message}", flush=True)


def machine() -> dict:
    from edgekit.runtimes.worker import cpu_info

    name, flags = cpu_info()
    return {"cpu": name, "simd": flags, "cores": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def edgekit(args_list: list[str], env: dict, log: Path) -> tuple[float, str | None]:
    """Run `edgekit ARGS`; (seconds, None) or (seconds, the error's last line)."""
    cmd = [sys.executable, "-m", "edgekit", "compress", *args_list]
    say("+ edgekit compress " + " ".join(args_list))
    started = time.perf_counter()
    with log.open("w") as handle:
        rc = subprocess.run(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
    seconds = round(time.perf_counter() - started, 1)
    if rc:
        lines = [x for x in log.read_text().splitlines() if x.strip()]
        return seconds, f"edgekit exited {rc}: {lines[-1].strip() if lines else 'no output'} (log {log})"
    return seconds, None


def run_files(run: Path) -> dict[tuple[str, str], Path]:
    """(role, format) -> file of an edgekit run directory, from its report.json."""
    report = json.loads((run / "report.json").read_text())
    files = {}
    for role in ("artifacts", "baseline"):
        for a in report.get(role) or []:
            if a.get("status", "ok") == "ok" and a.get("path"):
                files[(role, a["format"])] = run / a["path"]
    return files


def prepare_data(checkpoint: Path, args, work: Path):
    """The FP32 model, the edgekit data bundle, edgekit's calibration images (saved as .npy) and the eval set."""
    import torch

    from edgekit.bench.accuracy import limited
    from edgekit.data.sources import load_data
    from edgekit.models.build import preprocessing
    from edgekit.models.checkpoint import load_checkpoint
    from edgekit.stages.quantize import calibration_batches

    model, description = load_checkpoint(checkpoint)
    data = load_data(args.data, description.img_size, preprocessing(model), args.subset, args.seed)
    calib = torch.cat(calibration_batches(data, args.calib_samples, min(args.batch_size, 64), args.seed)).numpy()
    np.save(work / "calib.npy", calib)
    return model, description, data, limited(data.val, args.eval_samples)


def make_peer(peer: str, cfg: dict, work: Path, env: dict, reuse: bool) -> tuple[dict, str | None]:
    done = work / f"{peer}.result.json"
    if reuse and done.is_file() and Path(cfg["out"]).is_file():
        say(f"  peer {peer}: reusing {Path(cfg['out']).name} (--reuse)")
        return {**json.loads(done.read_text()), "reused": True}, None
    config = work / f"{peer}.json"
    config.write_text(json.dumps(cfg))
    log = work / f"{peer}.log"
    say(f"+ peer {peer} -> {Path(cfg['out']).name}")
    with log.open("w") as handle:
        rc = subprocess.run([sys.executable, str(HERE / "peers_make.py"), peer, str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=handle, text=True)
    result = [x for x in rc.stdout.splitlines() if x.startswith("PEER_RESULT ")]
    if rc.returncode or not result or not Path(cfg["out"]).is_file():
        lines = [x for x in log.read_text().splitlines() if x.strip()]
        why = next((x for x in reversed(lines) if "Error" in x or "error" in x), lines[-1] if lines else "no output")
        return {}, f"exit {rc.returncode}: {why.strip()[:300]} (log {log})"
    done.write_text(result[-1].removeprefix("PEER_RESULT "))
    return json.loads(done.read_text()), None


def first_of_top5(logits):
    """The top-1 class as edgekit's accuracy (timm's, top-1 and top-5 in one torch.topk) picks it among ties."""
    return logits.topk(min(5, logits.shape[1]), 1, True, True).indices[:, 0]


def evaluate(rows: list[dict], model, val, threads: int) -> dict[int, np.ndarray]:
    """Top-1 (edgekit's own top-k counting, so ties resolve as in edgekit's reports) and top-1 agreement with the
    FP32 PyTorch model of every row's file, in its runtime, on the same images. `ties`: images whose two largest
    logits are equal (common with an int8 output tensor), where either class may count as the prediction.
    Returns each evaluated row's per-image correctness (by id of the row), for the paired comparisons."""
    import torch
    from torch.utils.data import DataLoader

    from edgekit.bench.accuracy import topk_correct
    from edgekit.runtimes import open_session

    sessions = {}
    for r in rows:
        try:
            sessions[id(r)] = open_session(Path(r["path"]), threads)
        except Exception as exc:  # noqa: BLE001 - any runtime's load error becomes the row's reason
            r["error"] = f"cannot load: {str(exc).splitlines()[0][:200]}"
    counts = {k: {"correct": 0, "agree": 0, "ties": 0} for k in sessions}
    correct: dict[int, list[np.ndarray]] = {k: [] for k in sessions}
    seen = 0
    for images, labels in DataLoader(val, batch_size=500, shuffle=False):
        x = images.numpy()
        with torch.inference_mode():
            ref = first_of_top5(model(images))
        for r in rows:
            if id(r) in sessions:
                logits = torch.from_numpy(np.asarray(sessions[id(r)].run(x), dtype=np.float32))
                top2 = logits.topk(2).values
                c = counts[id(r)]
                c["correct"] += topk_correct(logits, labels)[0]
                correct[id(r)].append((first_of_top5(logits) == labels).numpy())
                c["agree"] += int((first_of_top5(logits) == ref).sum())
                c["ties"] += int((top2[:, 0] == top2[:, 1]).sum())
        seen += len(labels)
        say(f"  evaluated {seen}/{len(val)} images on {len(sessions)} files")
    for r in rows:
        if id(r) in sessions:
            c = counts[id(r)]
            r.update(top1=round(100 * c["correct"] / seen, 2), agreement_fp32=round(100 * c["agree"] / seen, 2),
                     ties=c["ties"], eval_n=seen)
    return {k: np.concatenate(v) for k, v in correct.items()}


#: each peer row is compared with these edgekit rows of its own format (same runtime, same images)
EDGEKIT_FOR = {"int8": ("ek:ptq", "ek:qat"), "fp32": ("ek:prune",)}


def paired_difference(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """edgekit's top-1 minus a peer's on the same images, in points, with a 95% interval (normal approximation
    of the per-image difference, which pairs the two: images both get right or wrong add no noise). A tie when the
    interval holds 0."""
    d = ours.astype(np.float64) - theirs.astype(np.float64)
    mean, half = d.mean(), 1.96 * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("inf")
    low, high = 100 * (mean - half), 100 * (mean + half)
    verdict = "tie" if low <= 0 <= high else ("edgekit ahead" if low > 0 else "peer ahead")
    return {"points": round(100 * mean, 2), "ci": [round(low, 2), round(high, 2)], "verdict": verdict,
            "only_edgekit_right": int(((ours == 1) & (theirs == 0)).sum()),
            "only_peer_right": int(((ours == 0) & (theirs == 1)).sum())}


def compare_speed(rows: list[dict], threads: str = "1") -> None:
    """Add edgekit's p50 over each compared peer's (same runtime, timed interleaved) with a bootstrap interval."""
    from edgekit.bench.stats import ratio_with_ci

    for r in rows:
        for mode, d in (r.get("vs_edgekit") or {}).items():
            ours = next((e for e in rows if e["producer"] == f"ek:{mode}" and e["format"] == r["format"]), None)
            if ours is None or threads not in ours.get("latency_ms", {}) or threads not in r.get("latency_ms", {}):
                continue
            ratio = ratio_with_ci(ours["latency_ms"][threads]["samples"], r["latency_ms"][threads]["samples"])
            low, high = ratio["ratio_ci"]
            d["p50_ratio"] = {"threads": int(threads), "ratio": ratio["ratio"], "ci": ratio["ratio_ci"],
                              "verdict": "tie" if low <= 1 <= high else ("edgekit faster" if high < 1 else
                                                                         "peer faster")}


def compare_with_edgekit(rows: list[dict], correct: dict[int, np.ndarray]) -> None:
    """Each peer row's paired top-1 difference from the edgekit rows of the same format and precision."""
    for r in rows:
        if r["producer"].startswith("ek:") or id(r) not in correct:
            continue
        for producer in EDGEKIT_FOR[r["precision"]]:
            ours = next((e for e in rows if e["producer"] == producer and e["format"] == r["format"]
                         and id(e) in correct), None)
            if ours is not None:
                r.setdefault("vs_edgekit", {})[producer[3:]] = paired_difference(correct[id(ours)], correct[id(r)])


def ort_graph(path: Path, scratch: Path) -> dict:
    """What onnxruntime's CPU EP makes of an .onnx (graph optimisations on, as OrtSession loads it): integer vs
    float convolutions, layout Transpose/Reorder nodes, runtime DequantizeLinear; and how many conv output widths
    are multiples of 8 (onnxruntime's blocked NCHWc kernels need them)."""
    import collections

    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(scratch)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(str(scratch)).graph.node
    ops = collections.Counter(n.op_type for n in nodes)
    blocked = sum(n.domain == "com.microsoft.nchwc" and n.op_type == "Conv" for n in nodes)
    scratch.unlink(missing_ok=True)
    widths = [t.dims[0] for t in onnx.load(str(path)).graph.initializer if len(t.dims) == 4]
    return {"int8_conv": ops["QLinearConv"], "float_conv": ops["Conv"] + ops["FusedConv"], "nchwc_conv": blocked,
            "layout_ops": ops["Transpose"] + ops["ReorderInput"] + ops["ReorderOutput"],
            "dequantize": ops["DequantizeLinear"], "conv_widths_x8": f"{sum(w % 8 == 0 for w in widths)}/{len(widths)}"}


def time_format(rows: list[dict], threads: int, args) -> None:
    """p50 of every file of one runtime, interleaved in this process; speed-up vs that runtime's FP32 file."""
    from edgekit.bench.measure import example_input, interleaved, latency_record
    from edgekit.bench.stats import speedup_with_ci
    from edgekit.runtimes import open_session

    live = [r for r in rows if not r.get("error")]
    sessions = [open_session(Path(r["path"]), threads) for r in live]
    calls = [(lambda s=s, x=example_input(s): s.run(x)) for s in sessions]
    results = interleaved(calls, args.warmup, args.runs, min_seconds=args.min_seconds)
    base = next((res for r, res in zip(live, results) if r["producer"] == "ek:fp32"), None)
    for r, (samples, util) in zip(live, results):
        r.setdefault("latency_ms", {})[str(threads)] = latency_record(samples, util, args.warmup, threads)
        if base is not None:
            r.setdefault("speedup", {})[str(threads)] = speedup_with_ci(samples, base[0])
    del sessions, calls


def estimate(args, n_models: int) -> str:
    """A rough wall-time estimate on 2 busy cores (effnet_lite0 at 64 px measured here: ~1 min per training epoch
    on 6,000 images, ~3x that per QAT epoch, ~2 ms per image per file to evaluate)."""
    epoch = 60 * (args.subset or 60000) / 6000 * (args.img_size / 64) ** 2
    train = 0 if args.checkpoint else (args.epochs * epoch + 60)
    per = train + 120 + 3 * args.qat_epochs * epoch + 90 + 2.3 * args.recover_epochs * epoch + 120 + 150
    files = len(ROWS)
    per += files * (args.eval_samples or 10000) * 0.002 + 2 * files * (args.runs + args.warmup) * 0.004 * 2
    return f"about {math.ceil(n_models * per / 60)} min for {n_models} model(s) (a rough guess for 2 busy cores)"


def one_model(name: str, args, env: dict, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    common = ["--data", args.data, "--seed", str(args.seed), "--no-bench", "--overwrite"]
    if args.subset:
        common += ["--subset", str(args.subset)]
    if args.eval_samples:
        common += ["--eval-samples", str(args.eval_samples)]
    record: dict = {"model": name, "commands": {}, "rows": []}
    checkpoint = Path(args.checkpoint) if args.checkpoint else work / "teacher" / "model"
    if not args.checkpoint:
        cmd = [name, "--img-size", str(args.img_size), "--epochs", str(args.epochs), "--no-int8",
               "--formats", "onnx", *common, "--out", str(work / "teacher")]
        record["commands"]["teacher"] = "edgekit compress " + " ".join(cmd)
        reused = args.reuse and (work / "teacher" / "report.json").is_file()
        seconds, error = (None, None) if reused else edgekit(cmd, env, work / "teacher.log")
        record["teacher_seconds"] = seconds
        if error:
            raise SystemExit(f"{name}: the FP32 teacher failed: {error}")
    runs = {"ptq": ["--int8", "ptq", "--calib-samples", str(args.calib_samples), "--formats", ",".join(FORMATS)],
            "qat": ["--int8", "qat", "--calib-samples", str(args.calib_samples), "--qat-epochs", str(args.qat_epochs),
                    "--formats", ",".join(FORMATS)],
            "prune": ["--prune", str(args.ratio), "--no-int8", "--recover-epochs", str(args.recover_epochs),
                      "--formats", "onnx"]}
    files: dict[str, dict] = {}
    errors: dict[str, str | None] = {}
    for mode, flags in runs.items():
        cmd = [str(checkpoint), *flags, *common, "--out", str(work / mode)]
        record["commands"][mode] = "edgekit compress " + " ".join(cmd)
        if args.reuse and (work / mode / "report.json").is_file():
            say(f"  edgekit {mode}: reusing {work / mode} (--reuse)")
            seconds = work / f"{mode}.seconds"
            record[f"{mode}_seconds"] = float(seconds.read_text()) if seconds.is_file() else None
            record[f"{mode}_reused"], errors[mode] = True, None
        else:
            record[f"{mode}_seconds"], errors[mode] = edgekit(cmd, env, work / f"{mode}.log")
            (work / f"{mode}.seconds").write_text(str(record[f"{mode}_seconds"]))
        files[mode] = run_files(work / mode) if not errors[mode] else {}
    model, description, data, val = prepare_data(checkpoint, args, work)
    record.update(img_size=description.img_size, calib_samples=args.calib_samples, eval_samples=len(val),
                  teacher_top1_pytorch=description.metrics.get("best_val_top1"))
    fp32 = files.get("ptq", {})
    cfg = {"checkpoint": str(checkpoint), "calib": str(work / "calib.npy"), "data": args.data, "subset": args.subset,
           "seed": args.seed, "ratio": args.ratio, "epochs": args.recover_epochs, "batch_size": args.batch_size,
           "lr": args.tp_lr, "fp32_onnx": str(fp32.get(("baseline", "onnx"), "")),
           "fp32_tflite": str(fp32.get(("baseline", "tflite"), ""))}
    suffix = {"onnx": ".onnx", "tflite": ".tflite", "pte": ".pte"}
    for row, producer, fmt in ROWS:
        r = {"row": row, "producer": producer, "format": fmt, "runtime": RUNTIME[fmt],
             "precision": "fp32" if producer in ("ek:fp32", "ek:prune", "torch-pruning") else "int8"}
        if producer.startswith("ek:"):
            mode = producer[3:]
            source, role = ("ptq", "baseline") if mode == "fp32" else (mode, "artifacts")
            path = files.get(source, {}).get((role, fmt))
            r["error"] = errors.get(source) or (None if path else f"edgekit run '{source}' wrote no .{fmt}")
            r["seconds"] = record.get(f"{source}_seconds")
        else:
            path = work / f"{producer}{suffix[fmt]}"
            needs = {"ort": "fp32_onnx", "nncf": "fp32_onnx", "aeq": "fp32_tflite"}.get(producer)
            if needs and not cfg[needs]:
                r["error"] = "no FP32 file from edgekit's PTQ run to start from"
            else:
                extra, r["error"] = make_peer(producer, {**cfg, "out": str(path)}, work, env, args.reuse)
                r.update(extra)
        if not r["error"]:
            r["path"], r["size_bytes"] = str(path), path.stat().st_size
        record["rows"].append(r)
    say(f"{name}: evaluating every file on {len(val)} test images")
    correct = evaluate([r for r in record["rows"] if not r["error"]], model, val, 1)
    compare_with_edgekit(record["rows"], correct)
    for r in record["rows"]:
        if r["format"] == "onnx" and not r["error"]:
            r["ort_graph"] = ort_graph(Path(r["path"]), work / "optimized.onnx")
    for fmt in FORMATS:
        group = [r for r in record["rows"] if r["format"] == fmt and not r["error"]]
        for threads in (1, 2):
            say(f"{name}: timing {len(group)} {RUNTIME[fmt]} files interleaved, {threads} thread(s), {args.runs} runs")
            time_format(group, threads, args)
    compare_speed(record["rows"])
    return record


def table(record: dict) -> list[str]:
    lines = [f"### {record['model']} ({record['img_size']} px, {record['eval_samples']} test images, "
             f"{record['calib_samples']} calibration images)", "",
             "| row | runtime | top-1 % | agreement with FP32 % | p50 1 thread ms | p50 2 threads ms | size MB "
             "| vs FP32 speed-up (1 thr) | vs FP32 speed-up (2 thr) | ties |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(record["rows"], key=lambda r: FORMATS.index(r["format"])):
        if r.get("error"):
            lines.append(f"| {r['row']} | {r['runtime']} | ✗ {r['error']} | | | | | | | |")
            continue
        lat = r.get("latency_ms", {})
        sp = r.get("speedup", {})
        cells = [f"{lat[t]['p50']:.3f}" if t in lat else "-" for t in ("1", "2")]
        speed = [f"{sp[t]['speedup']:.2f}× [{sp[t]['ci'][0]:.2f}, {sp[t]['ci'][1]:.2f}]" if t in sp else "-"
                 for t in ("1", "2")]
        lines.append(f"| {r['row']} | {r['runtime']} | {r.get('top1', '-')} | {r.get('agreement_fp32', '-')} | "
                     f"{cells[0]} | {cells[1]} | {r['size_bytes'] / 1e6:.2f} | {speed[0]} | {speed[1]} | {r.get('ties', '-')} |")
    return lines


def paired_table(record: dict) -> list[str]:
    """edgekit's top-1 minus each peer's, paired on the same test images, with the verdict."""
    compared = [r for r in record["rows"] if r.get("vs_edgekit")]
    if not compared:
        return []
    names = {"ptq": "edgekit PTQ", "qat": "edgekit QAT", "prune": "edgekit prune + KD"}
    lines = ["edgekit against each peer: top-1 of edgekit minus the peer's, paired on the same test images (points, "
             "95% interval; a tie when it holds 0), the images only one of the two gets right, and edgekit's p50 "
             "over the peer's from the same interleaved timing (95% bootstrap interval; a tie when it holds 1):", "",
             "| peer row | runtime | against | edgekit − peer | verdict | only edgekit / only peer right "
             "| edgekit p50 / peer p50 (1 thread) | speed verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in compared:
        for mode, d in r["vs_edgekit"].items():
            speed = d.get("p50_ratio")
            ratio = f"{speed['ratio']:.3f} [{speed['ci'][0]:.3f}, {speed['ci'][1]:.3f}] | {speed['verdict']}" \
                if speed else "- | -"
            lines.append(f"| {r['row']} | {r['runtime']} | {names[mode]} | {d['points']:+.2f} [{d['ci'][0]:+.2f}, "
                         f"{d['ci'][1]:+.2f}] | {d['verdict']} | {d['only_edgekit_right']} / {d['only_peer_right']} "
                         f"| {ratio} |")
    return lines + [""]


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "peers.json").write_text(json.dumps(results, indent=1) + "\n")
    host = results["machine"]
    lines = ["# edgekit vs the peers, from the same FP32 model", "",
             results["label"], "", f"Reproduce: `{results['command']}`", "",
             f"Machine: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores, "
             f"OMP_NUM_THREADS={host['omp_num_threads']}. Latencies are p50 of {results['runs']} runs per file, "
             "all files of one runtime interleaved in one process; the speed-up is the FP32 file's p50 over the "
             "row's, in that runtime, with a 95% bootstrap interval. Agreement: share of test images whose top-1 "
             "equals the FP32 PyTorch model's. Ties: test images whose two largest logits are equal (an int8 "
             "output tensor makes them common; top-1 counts them as torch.topk resolves them, as edgekit does).",
             ""]
    for record in results["models"]:
        lines += table(record) + [""] + paired_table(record)
        graphs = [r for r in record["rows"] if r.get("ort_graph")]
        lines += ["What onnxruntime's CPU EP runs (the graph after its optimisations):", "",
                  "| row | int8 convs | float convs | of which blocked NCHWc | Transpose/Reorder | DequantizeLinear left "
                  "| conv widths % 8 == 0 |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['row']} | {g['int8_conv']} | {g['float_conv']} | {g['nchwc_conv']} | {g['layout_ops']} | {g['dequantize']} | "
                  f"{g['conv_widths_x8']} |" for r in graphs for g in [r["ort_graph"]]] + [""]
        lines += [f"- `{k}`: `{v}`" for k, v in record["commands"].items()] + [""]
        lines += [f"- {r['row']}: {r['settings']}" for r in record["rows"] if r.get("settings")] + [""]
    (out / "peers.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="effnet_lite0", help="comma list (headline: effnet_lite0, effnet_b0, "
                        "mbv3_large, mobilevit_xs, resnet18, deit_tiny)")
    parser.add_argument("--checkpoint", help="an FP32 edgekit checkpoint directory (one model; skips training)")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--train-subset", dest="subset", type=int, default=None, help="cap on training images")
    parser.add_argument("--epochs", type=int, default=3, help="teacher epochs")
    parser.add_argument("--qat-epochs", type=float, default=1.0)
    parser.add_argument("--recover-epochs", type=float, default=3.0, help="edgekit KD and Torch-Pruning fine-tune")
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--calib-samples", type=int, default=256)
    parser.add_argument("--eval-samples", type=int, default=None, help="cap on test images (default: all 10k)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tp-lr", type=float, default=0.01, help="Torch-Pruning fine-tune peak lr (SGD)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=0.0, help="time each runtime's group at least this long")
    parser.add_argument("--reuse", action="store_true", help="keep edgekit runs and peer files already in --work "
                        "(same options), redo only the measurements")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgekit-peers"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--label", default="Full run.")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    if args.checkpoint and len(models) != 1:
        raise SystemExit("--checkpoint takes one model")
    if args.checkpoint:
        models = [json.loads((Path(args.checkpoint) / "model.json").read_text())["model"]]
    env = dict(os.environ, EDGEKIT_CACHE=str(args.work / "cache"), PYTHONPATH=str(ROOT))
    say(f"{len(models)} model(s) x {len(ROWS)} rows; expect {estimate(args, len(models))}")
    argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--label" and (i == 0 or sys.argv[i] != "--label")]
    results = {"label": args.label, "command": " ".join(["python", "benchmarks/peers.py", *argv]),
               "machine": machine(), "runs": args.runs, "warmup": args.warmup, "options": vars(args) | {
                   "work": str(args.work), "out": str(args.out)}, "models": []}
    for name in models:
        results["models"].append(one_model(name, args, env, args.work / name))
        write(results, args.out)
        say(f"{name}: done")
    print((args.out / "peers.md").read_text())


if __name__ == "__main__":
    main()
