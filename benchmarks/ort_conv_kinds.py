"""Where does onnxruntime's INT8 speed-up come from? Per conv kind (stem, depthwise, pointwise/dense), FP32 vs INT8.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ort_conv_kinds.py                      # effnet_lite0, 224 px
    .venv/bin/python benchmarks/ort_conv_kinds.py --model mbv3_large --ratio 0 --img-size 160

Builds the model (untrained: latency does not depend on the weights), prunes it by --ratio with edgekit's engine
(0: unpruned), then exports the FP32 file and INT8 PTQ files that keep some conv kinds in float (the scheme's
`float_layers`, so those convs get no QDQ pair): all INT8, stem float, depthwise float, stem + depthwise float.
All files are timed interleaved in one process at 1 thread (edgekit.bench.measure.interleaved), speed-up over the
FP32 file with a 95% bootstrap interval, and each is profiled once with onnxruntime's profiler to split the conv
kernels' time by kind. Writes benchmarks/results/ort_conv_kinds.{md,json} with the CPU's name and SIMD flags.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np
from tiny_budget import machine

HERE = Path(__file__).resolve().parent
KINDS = ("stem", "depthwise", "pointwise/dense")


def build(name: str, ratio: float, size: int, classes: int):
    """The zoo model at `size`, pruned by `ratio`, with each conv's kind by module name."""
    import torch

    from edgekit.models.build import create
    from edgekit.models.zoo import resolve
    from edgekit.pruning import PruneConfig, prune

    torch.manual_seed(0)
    model = create(resolve(name), classes, size).eval()
    if ratio:
        prune(model, PruneConfig(ratio), torch.randn(1, 3, size, size))
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    kinds = {n: "stem" if i == 0 else "depthwise" if m.groups > 1 and m.groups == m.in_channels
             else "pointwise/dense" for i, (n, m) in enumerate(convs)}
    return model, kinds


def export_variants(model, kinds: dict[str, str], size: int, out: Path) -> dict[str, Path]:
    """FP32 and the INT8 PTQ files (calibrated on random images: ranges do not change the kernels)."""
    import torch

    from edgekit.exporters.onnx import export_onnx
    from edgekit.quant import pt2e, scheme
    from edgekit.runtimes.onnxruntime import int8_weight_type

    batches = [torch.rand(8, 3, size, size) for _ in range(2)]
    example = batches[0][:1]
    stem = tuple(n for n, k in kinds.items() if k == "stem")
    depthwise = tuple(n for n, k in kinds.items() if k == "depthwise")
    floats = {"INT8, every conv": (), "INT8, stem float": stem, "INT8, depthwise float": depthwise,
              "INT8, stem + depthwise float": stem + depthwise}
    paths = {"FP32": out / "fp32.onnx"}
    export_onnx(model, example, paths["FP32"])
    for i, (name, layers) in enumerate(floats.items()):
        graph = pt2e.capture(model, example, fold_norms=True)
        converted = pt2e.ptq(graph, scheme.xnnpack_quantizer(False, layers, "histogram"), batches)
        paths[name] = out / f"int8_{i}.onnx"
        export_onnx(converted, example, paths[name], int8_weights=int8_weight_type())
    return paths


def conv_kind(name: str, shapes: list[list[int]], groups: dict[str, int]) -> str:
    """The kind of one profiled conv kernel: stem when its input has 3 channels (NCHW or NHWC), depthwise when the
    exported Conv it came from (its name's prefix) has groups or its weight has one input channel."""
    image = shapes[0] if shapes else []
    if len(image) == 4 and 3 in (image[1], image[3]):
        return "stem"
    group = next((g for n, g in groups.items() if name == n or name.startswith(n + "_")), None)
    weight = shapes[1] if len(shapes) > 1 else []
    return "depthwise" if (group or 1) > 1 or len(weight) == 4 and weight[1] == 1 else "pointwise/dense"


def conv_time_by_kind(path: Path, size: int, runs: int) -> dict[str, float]:
    """ms per run of the conv kernels of each kind, from onnxruntime's profiler (1 thread)."""
    import onnx
    import onnxruntime as ort

    groups = {n.name: next((a.i for a in n.attribute if a.name == "group"), 1)
              for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"}
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        options.enable_profiling, options.profile_file_prefix = True, f"{tmp}/profile"
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: np.random.rand(1, 3, size, size).astype(np.float32)}
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    total: collections.Counter = collections.Counter()
    for e in events:
        args = e.get("args") or {}
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or "Conv" not in args.get("op_name", ""):
            continue
        shapes = [next(iter(t.values())) for t in args.get("input_type_shape", [])]
        total[conv_kind(e["name"][: -len("_kernel_time")], shapes, groups)] += e["dur"]
    return {k: round(total[k] / runs / 1000, 3) for k in KINDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--ratio", type=float, default=0.3, help="prune ratio (0: unpruned)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=10, help="classifier width (Fashion-MNIST's 10)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--profile-runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    from edgekit.bench.measure import example_input, interleaved
    from edgekit.bench.stats import speedup_with_ci
    from edgekit.runtimes import open_session

    model, kinds = build(args.model, args.ratio, args.img_size, args.num_classes)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_variants(model, kinds, args.img_size, Path(tmp))
        sessions = [open_session(p, 1) for p in paths.values()]
        calls = [(lambda s=s, x=example_input(s): s.run(x)) for s in sessions]
        timed = interleaved(calls, 20, args.runs)
        del sessions, calls
        rows = []
        for (name, path), (samples, _) in zip(paths.items(), timed):
            speedup = speedup_with_ci(samples, timed[0][0])
            rows.append({"file": name, "size_mb": round(path.stat().st_size / 1e6, 2),
                         "p50_ms": round(float(np.median(samples)), 3), "speedup": speedup["speedup"],
                         "speedup_ci": speedup["ci"],
                         "conv_ms_by_kind": conv_time_by_kind(path, args.img_size, args.profile_runs)})
    count = collections.Counter(kinds.values())
    result = {"model": args.model, "ratio": args.ratio, "img_size": args.img_size, "runs": args.runs,
              "machine": machine(), "convs": dict(count), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ort_conv_kinds.json").write_text(json.dumps(result, indent=1) + "\n")
    host = result["machine"]
    lines = [f"# onnxruntime INT8 by conv kind: {args.model}, prune {args.ratio:g}, {args.img_size} px, 1 thread", "",
             f"Reproduce: `python benchmarks/ort_conv_kinds.py --model {args.model} --ratio {args.ratio:g} "
             f"--img-size {args.img_size} --num-classes {args.num_classes} --runs {args.runs}`", "",
             f"Machine: {host['cpu']} ({', '.join(host['simd']) or 'no AVX2'}), {host['cores']} cores. Untrained "
             f"weights (latency only). Convs: {', '.join(f'{v} {k}' for k, v in count.items())}. p50 of "
             f"{args.runs} runs, all files interleaved in one process; speed-up over the FP32 file (95% bootstrap "
             f"interval). Conv ms by kind: onnxruntime's profiler, {args.profile_runs} runs, kernel time only.", "",
             "| file | size MB | p50 ms | speed-up | stem convs ms | depthwise convs ms | pointwise/dense convs ms |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["conv_ms_by_kind"]
        lines.append(f"| {r['file']} | {r['size_mb']} | {r['p50_ms']:.3f} | {r['speedup']:.2f}× "
                     f"[{r['speedup_ci'][0]:.2f}, {r['speedup_ci'][1]:.2f}] | {c['stem']:.3f} | {c['depthwise']:.3f} "
                     f"| {c['pointwise/dense']:.3f} |")
    (args.out / "ort_conv_kinds.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
