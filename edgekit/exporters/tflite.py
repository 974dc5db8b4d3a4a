"""TFLite exporter: litert-torch conversion, op histogram and XNNPACK coverage of the file."""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path

import litert_torch
import torch
from litert_torch.quantize import pt2e_quantizer, quant_config

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.io import publish
from edgekit.core.ui import quiet_export
from edgekit.exporters.base import ExportResult, export_failure
from edgekit.exporters.tflite_io import TFLITE_IO, float_interface
from edgekit.exporters.tflite_rewrites import tflite_compatible
from edgekit.models.program import QD, get_attr, is_quantized, op_name

log = logging.getLogger(__name__)

DELEGATE_OP = "DELEGATE"


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def flatbuffer_op_counts(path: Path) -> dict[str, int]:
    """Builtin/custom op histogram over every subgraph of a .tflite flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    buf = Path(path).read_bytes()
    model = schema.Model.GetRootAs(buf, 0)
    names = _builtin_names()
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            codes.append(f"CUSTOM:{custom.decode() if custom else '?'}")
        else:
            codes.append(names.get(builtin, f"BUILTIN_{builtin}"))
    counts: collections.Counter[str] = collections.Counter()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            counts[codes[graph.Operators(o).OpcodeIndex()]] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def undelegated_ops(interpreter) -> list[str]:
    """Names of the nodes the XNNPACK delegate left to the builtin kernels (after allocate_tensors).

    The interpreter keeps replaced nodes in its node list; the plan itself is not exposed to Python.
    A DELEGATE node's inputs are the external inputs of its partition and its outputs are the partition's
    outputs, so walking back from those outputs to those inputs finds every node it replaced.
    """
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the only node-level view the Python API offers
    producer = {int(t): op["index"] for op in ops if op["op_name"] != DELEGATE_OP for t in op["outputs"]}
    by_index = {op["index"]: op for op in ops}
    replaced: set[int] = set()
    for op in ops:
        if op["op_name"] != DELEGATE_OP:
            continue
        boundary = {int(t) for t in op["inputs"]}
        stack = [producer[int(t)] for t in op["outputs"] if int(t) in producer]
        while stack:
            index = stack.pop()
            if index in replaced:
                continue
            replaced.add(index)
            for t in by_index[index]["inputs"]:
                t = int(t)
                if t >= 0 and t not in boundary and t in producer:
                    stack.append(producer[t])
    return [op["op_name"] for op in ops if op["op_name"] != DELEGATE_OP and op["index"] not in replaced]


def xnnpack_fallback_ops(path: Path) -> list[str]:
    """Sorted unique ops of `path` that stay outside XNNPACK in the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = first_line(exc)
        raise EdgekitError(f"the converted .tflite does not load in the LiteRT interpreter: {first}") from exc
    return sorted(set(undelegated_ops(interpreter)))


def unfold_weights(model: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Rewrite folded int8 weight constants as float constants followed by their quantize op.

    `convert_pt2e` folds each weight's quantize into an int8 constant; litert-torch wants the unfolded
    form (float weight → quantize → dequantize). quantize(dequantize(q)) == q, so the model is unchanged.
    """
    graph = model.graph
    for node in list(graph.nodes):
        if node.op != "call_function" or not op_name(node).startswith(f"{QD}.dequantize_per_"):
            continue
        source = node.args[0]
        if source.op != "get_attr":
            continue
        qweight = get_attr(model, source.target)
        if qweight.dtype not in (torch.int8, torch.uint8):
            continue
        quant_args = node.args[1:]
        per_channel = "per_channel" in op_name(node)
        dequantize = (torch.ops.quantized_decomposed.dequantize_per_channel if per_channel
                      else torch.ops.quantized_decomposed.dequantize_per_tensor)
        quantize = (torch.ops.quantized_decomposed.quantize_per_channel if per_channel
                    else torch.ops.quantized_decomposed.quantize_per_tensor)
        params = [get_attr(model, a.target) if isinstance(a, torch.fx.Node) else a for a in quant_args]
        weight = dequantize.default(qweight, *params)
        name = f"{source.target}_float"
        model.register_buffer(name, weight)
        with graph.inserting_before(node):
            float_node = graph.get_attr(name)
            quantized = graph.call_function(quantize.default, (float_node, *quant_args))
        node.replace_input_with(source, quantized)
    graph.eliminate_dead_code()
    model.recompile()
    return model


def _for_conversion(model: torch.nn.Module) -> tuple[torch.nn.Module, dict]:
    """The model and converter options: a PT2E-quantized model needs unfolded weights and static-QDQ mode.

    The converter reads only the mode (static vs dynamic) from the quantizer it is given; the graph's own
    quantize/dequantize nodes decide the scheme, so the file is the same integer model as the other formats.
    """
    import copy

    if not is_quantized(model):
        return model, {}
    static = pt2e_quantizer.PT2EQuantizer().set_global(pt2e_quantizer.get_symmetric_quantization_config())
    return unfold_weights(copy.deepcopy(model)), {"quant_config": quant_config.QuantConfig(pt2e_quantizer=static)}


def export_tflite(model: torch.nn.Module, example: torch.Tensor, path: Path,
                  interface: str = "int8") -> ExportResult:
    """Convert with litert-torch (NCHW interface kept) and write one .tflite file.

    Modules with a known litert-torch lowering bug are converted through a numerically identical substitute
    (`tflite_rewrites`); the file is verified against the unmodified model afterwards. An int8 model converts to a
    full-integer file with int8 I/O; `interface="float"` wraps it in float32 I/O (`tflite_io.float_interface`).
    """
    if interface not in TFLITE_IO:
        raise EdgekitError(f"the tflite interface must be one of {', '.join(TFLITE_IO)}, not '{interface}'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    previous = os.environ.get("LITERT_TORCH_SHOW_PROGRESS")
    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    try:
        with quiet_export(), contextlib.redirect_stderr(io.StringIO()), tflite_compatible(model) as rewritten:
            try:
                subject, options = _for_conversion(model)
                converted = litert_torch.convert(subject, (example,), **options)
            except Exception as exc:  # noqa: BLE001 - surface a one-line reason
                raise export_failure("TFLite conversion", "tflite", exc) from exc
            converted.export(str(tmp))
        wrapped = float_interface(tmp) if interface == "float" else 0
        ops = flatbuffer_op_counts(tmp)
        fallback = xnnpack_fallback_ops(tmp)
        publish(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if previous is None:
            os.environ.pop("LITERT_TORCH_SHOW_PROGRESS", None)
        else:
            os.environ["LITERT_TORCH_SHOW_PROGRESS"] = previous
    notes = []
    if wrapped:
        notes.append(f"float32 interface: QUANTIZE/DEQUANTIZE ops wrap {wrapped} integer input/output tensor(s)")
    if rewritten:
        notes.append(f"{len(rewritten)} module(s) converted through a litert-torch workaround (tflite_rewrites)")
    if fallback:
        notes.append("not delegated to XNNPACK: " + ", ".join(fallback))
    return ExportResult(path=path, op_counts=ops, fallback_ops=fallback, notes=notes)
