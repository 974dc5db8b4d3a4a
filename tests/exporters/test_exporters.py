"""Exporter tests: files are written atomically, checked, and their op tables are meaningful."""

from __future__ import annotations

import os

import onnx
import pytest
import timm
import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.formats import FORMATS
from edgekit.exporters import ExportResult, export

PX = 64


class OddOps(torch.nn.Module):
    """Tiny model with ops XNNPACK cannot take (cumsum, index/gather) between delegable convs."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 10)
        self.register_buffer("order", torch.tensor([3, 1, 2, 0, 4, 5, 7, 6]))

    def forward(self, x):
        y = torch.cumsum(self.conv(x).relu(), dim=2).mean((2, 3))
        return self.fc(y[:, self.order])


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", num_classes=10).eval(), torch.randn(1, 3, PX, PX)


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    """format name -> ExportResult for the tiny model (exported once per module)."""
    out = tmp_path_factory.mktemp("export")
    model, example = tiny
    return {name: export(spec, model, example, out / f"tiny{spec.suffix}") for name, spec in FORMATS.items()}


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    out = tmp_path_factory.mktemp("odd")
    torch.manual_seed(0)
    model, example = OddOps().eval(), torch.randn(1, 3, 32, 32)
    return {name: export(spec, model, example, out / f"odd{spec.suffix}") for name, spec in FORMATS.items()}


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "pte"])
def test_export_writes_one_file_with_ops(exported, fmt):
    result = exported[fmt]
    assert isinstance(result, ExportResult)
    assert result.path.is_file() and result.path.stat().st_size > 10_000
    assert result.path.suffix == FORMATS.get(fmt).suffix
    # atomic write: nothing but the final files is left in the folder
    assert sorted(p.name for p in result.path.parent.iterdir()) == sorted(f"tiny{s.suffix}" for _, s in FORMATS.items())
    assert result.op_counts and all(isinstance(v, int) and v > 0 for v in result.op_counts.values())
    assert isinstance(result.fallback_ops, list)
    umask = os.umask(0)
    os.umask(umask)
    assert result.path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file, not mkstemp's 0600


def test_onnx_is_plain_checked_graph_with_dynamic_batch(exported):
    result = exported["onnx"]
    proto = onnx.load(str(result.path))
    onnx.checker.check_model(proto, full_check=True)
    assert not proto.functions
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value
    assert {op.domain for op in proto.opset_import if op.domain in ("", "ai.onnx")} and any(
        op.version == 18 for op in proto.opset_import if op.domain in ("", "ai.onnx"))
    assert sum(result.op_counts.values()) == len(proto.graph.node)
    assert result.op_counts.get("Conv", 0) > 0
    assert result.fallback_ops == []
    assert not list(result.path.parent.glob("*.data"))
    # no per-node debug metadata (source stacks, FX text): the file is weights plus a lean graph
    assert not any(node.metadata_props for node in proto.graph.node)
    weights = sum(t.ByteSize() for t in proto.graph.initializer)
    assert result.path.stat().st_size < 1.2 * weights + 50_000


def test_tflite_ops_are_builtin_names_and_fully_delegated(exported):
    result = exported["tflite"]
    assert "CONV_2D" in result.op_counts
    assert result.fallback_ops == []


def test_pte_is_fully_delegated(exported):
    result = exported["pte"]
    assert result.op_counts.get("xnnpack_delegate", 0) >= 1
    assert result.fallback_ops == []


def test_tflite_reports_ops_xnnpack_does_not_take(odd):
    result = odd["tflite"]
    assert {"CUMSUM", "GATHER_ND"} <= set(result.fallback_ops)
    assert "CONV_2D" not in result.fallback_ops and "FULLY_CONNECTED" not in result.fallback_ops
    assert result.fallback_ops == sorted(set(result.fallback_ops))


def test_pte_reports_ops_left_to_portable_kernels(odd):
    result = odd["pte"]
    assert "cumsum" in result.fallback_ops and "index" in result.fallback_ops
    assert "xnnpack_delegate" in result.op_counts and "xnnpack_delegate" not in result.fallback_ops
    assert "convolution" not in result.fallback_ops


def test_onnx_fallback_is_empty_for_odd_ops(odd):
    assert odd["onnx"].fallback_ops == []
    assert "CumSum" in odd["onnx"].op_counts


def test_failed_export_leaves_no_file(tmp_path):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(EdgekitError, match=r"cannot be traced for pte: RuntimeError: boom \(at test_exporters.py:\d+ in forward"):
        export("pte", Broken(), torch.randn(1, 3, 8, 8), tmp_path / "broken.pte")
    assert list(tmp_path.iterdir()) == []


def test_onnx_falls_back_to_torchscript_with_a_note(tiny, tmp_path, monkeypatch):
    import edgekit.exporters.onnx as onnx_exporter

    def fail(*args, **kwargs):
        raise RuntimeError("dynamo says no")

    monkeypatch.setattr(onnx_exporter, "_export_dynamo", fail)
    model, example = tiny
    result = onnx_exporter.export_onnx(model, example, tmp_path / "ts.onnx")
    assert any("TorchScript" in note for note in result.notes)
    proto = onnx.load(str(result.path))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert result.op_counts.get("Conv", 0) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["ts.onnx"]
