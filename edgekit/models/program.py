"""PT2E programs: recognise an integer (quantize/dequantize) graph, look up its constants, save and load it safely."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import torch

QD = "quantized_decomposed"  # the op namespace of PT2E's quantize/dequantize nodes


def op_name(node: torch.fx.Node) -> str:
    """'namespace.name' of a call_function target ('quantized_decomposed.quantize_per_tensor', 'aten.conv2d')."""
    target = node.target
    name = getattr(target, "__name__", str(target))
    namespace = getattr(target, "namespace", "")
    return f"{namespace}.{name}" if namespace else name


def is_quantized(model: torch.nn.Module) -> bool:
    """True when `model` is a PT2E-converted graph carrying quantize/dequantize nodes."""
    graph = getattr(model, "graph", None)
    return graph is not None and any(n.op == "call_function" and op_name(n).startswith(QD) for n in graph.nodes)


def get_attr(model: torch.nn.Module, target: str) -> torch.Tensor:
    """The tensor a get_attr node's dotted `target` names in `model`."""
    value = model
    for part in target.split("."):
        value = getattr(value, part)
    return value


MAX_BATCH = 4096
PROGRAM_FILE = "program.pt2"


def save_program(path: Path, model: torch.fx.GraphModule, img_size: int) -> None:
    """Write a PT2E integer graph as a torch.export archive (dynamic batch, tensors stored raw, not pickled)."""
    from edgekit.core.io import atomic_write_bytes

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    example = torch.zeros(2, 3, img_size, img_size)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_program(path: Path) -> torch.fx.GraphModule:
    """Read back `save_program`'s archive; one that would need unpickling anything is refused, never loaded."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    _refuse_pickles(Path(path))
    module = torch.export.load(str(path)).module()
    allow_exported_model_train_eval(module)  # .train()/.eval() switch BN and dropout in the graph
    module.eval()  # the patched eval() switches the graph's ops only
    module.training = False
    return module


def _refuse_pickles(path: Path) -> None:
    """torch.export.load unpickles weights marked `use_pickle` and falls back to unpickling example inputs that
    plain tensor loading rejects: check both first, so loading never runs pickle code."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(("_weights_config.json", "_constants_config.json")):
                config = json.loads(archive.read(name)).get("config", {})
                if any(entry.get("use_pickle") for entry in config.values()):
                    raise ValueError(f"{path.name}: {name} holds pickled tensors")
            elif "/data/sample_inputs/" in name:
                torch.load(io.BytesIO(archive.read(name)), weights_only=True)
