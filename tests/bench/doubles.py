"""Report doubles for the gate tests: valid report.json dicts with latency samples of a known distribution."""

from __future__ import annotations

import numpy as np

from edgekit import __version__
from edgekit.bench.measure import latency_record
from edgekit.core.records import REPORT_SCHEMA


def lognormal(rng: np.random.Generator, median_ms: float, n: int, sigma: float = 0.15) -> np.ndarray:
    """Latency samples: log-normal around `median_ms` (the shape of real per-run latencies)."""
    return rng.lognormal(np.log(median_ms), sigma, n)


def make_artifact(fmt: str = "onnx", precision: str = "fp32", samples=None, size_bytes: int = 2_000_000,
                  params: int = 360_000, macs: int = 57_000_000, top1: float | None = None, status: str = "ok",
                  path: str | None = None) -> dict:
    latency = None
    if samples is not None:
        latency = latency_record([float(s) for s in samples], 1.0, 5, 1)
    accuracy = {"top1": top1, "top5": min(100.0, top1 + 10), "n": 1000, "dataset": "fashion-mnist"} if top1 else None
    return {"format": fmt, "path": path or f"test_effnet.{fmt}", "size_bytes": size_bytes, "sha256": "0" * 64,
            "precision": precision, "params": params, "macs": macs, "status": status, "runtime": "onnxruntime",
            "parity": {"max_abs_diff": 1e-5, "top1_agreement": 1.0, "n": 4, "passed": True},
            "latency_ms": latency, "accuracy": accuracy, "load_ms": 12.0, "op_counts": {}, "fallback_ops": [],
            "notes": [], "error": None if status == "ok" else "parity failed"}


def make_report(artifacts: list[dict], baseline: list[dict] | None = None, model: str = "test_effnet",
                accuracy_pytorch: float | None = None) -> dict:
    return {"schema_version": REPORT_SCHEMA, "command": "compress", "model": model, "timm_id": "test_efficientnet",
            "edgekit_version": __version__, "img_size": 64, "num_classes": 10, "data": "fashion-mnist",
            "env": {"cpu": "test", "flags": [], "threads": 1}, "recipe": {}, "stages": [],
            "accuracy_pytorch": ({"top1": accuracy_pytorch, "top5": 99.0, "n": 1000, "dataset": "fashion-mnist"}
                                 if accuracy_pytorch else None),
            "artifacts": artifacts, "baseline": baseline if baseline is not None else [dict(a) for a in artifacts],
            "baseline_is_artifacts": baseline is None, "ok": all(a["status"] == "ok" for a in artifacts)}



def tiny_onnx(path, size: int = 8, classes: int = 4):
    """A tiny classifier written with onnx.helper (no export): global average pool → linear, input 1×3×size×size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(3 * classes, dtype=np.float32).reshape(3, classes) / 10, "w")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def assert_one_line_error(result, fragment: str) -> None:
    """A CLI result that is one `edgekit: error:` line containing `fragment`, exit code 2, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgekit: error:") and fragment in lines[0], result.stderr


def slowed_onnx(source, target, matmuls: int = 4, size: int = 32, seed: int = 0):
    """A copy of an ONNX model (one float input, first output) with the same outputs, computed slower.

    The extra work is a branch that depends on the input: the sum of the input scales a size×size matrix, which
    goes through `matmuls` MatMul + Tanh steps; the branch's sum, multiplied by zero, is added to the first output.
    onnxruntime cannot drop it: constant folding needs constant inputs and it does not rewrite x·0 as 0 (x might be
    inf or NaN), so the branch runs on every call. Tanh keeps it finite, so the outputs are unchanged bit for bit.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    x, y = graph.input[0].name, graph.output[0].name
    for node in graph.node:  # the first output is now computed as y_before_slowdown
        node.output[:] = [f"{y}_before_slowdown" if o == y else o for o in node.output]
        node.input[:] = [f"{y}_before_slowdown" if i == y else i for i in node.input]
    rng = np.random.default_rng(seed)
    weights = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
    graph.initializer.extend([numpy_helper.from_array(weights, "slowdown_w"),
                              numpy_helper.from_array(np.zeros((), np.float32), "slowdown_zero")])
    nodes = [helper.make_node("ReduceSum", [x], ["slowdown_s"], keepdims=0),
             helper.make_node("Mul", ["slowdown_w", "slowdown_s"], ["slowdown_m0"])]
    for i in range(matmuls):
        nodes += [helper.make_node("MatMul", [f"slowdown_m{i}", "slowdown_w"], [f"slowdown_p{i}"]),
                  helper.make_node("Tanh", [f"slowdown_p{i}"], [f"slowdown_m{i + 1}"])]
    nodes += [helper.make_node("ReduceSum", [f"slowdown_m{matmuls}"], ["slowdown_t"], keepdims=0),
              helper.make_node("Mul", ["slowdown_t", "slowdown_zero"], ["slowdown_nothing"]),
              helper.make_node("Add", [f"{y}_before_slowdown", "slowdown_nothing"], [y])]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return target
