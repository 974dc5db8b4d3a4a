"""Export-time substitutions for litert-torch: same numbers, the model is left as it was, and the file converts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.models.mobilevit import LinearSelfAttention

from edgekit.exporters import export
from edgekit.exporters.tflite_rewrites import tflite_compatible


class Block(torch.nn.Module):
    """MobileViTv2's attention between convolutions, as in the model: [B, C, P, N] patches."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.inp = torch.nn.Conv2d(3, dim, 1)
        self.attn = LinearSelfAttention(dim)
        self.out = torch.nn.Conv2d(dim, 4, 1)

    def forward(self, x):
        return self.out(self.attn(self.inp(x)))


@pytest.fixture()
def block():
    torch.manual_seed(0)
    return Block().eval(), torch.randn(2, 3, 4, 16)


def test_substitute_gives_identical_outputs_and_restores_the_class(block):
    model, x = block
    with torch.no_grad():
        reference = model(x)
        with tflite_compatible(model) as names:
            assert names == ["attn"]
            assert type(model.attn) is not LinearSelfAttention and isinstance(model.attn, LinearSelfAttention)
            rewritten = model(x)
    assert type(model.attn) is LinearSelfAttention
    assert torch.equal(rewritten, reference)


def test_class_is_restored_when_the_block_raises(block):
    model, _ = block
    with pytest.raises(RuntimeError), tflite_compatible(model):
        raise RuntimeError("conversion failed")
    assert type(model.attn) is LinearSelfAttention


def test_linear_self_attention_converts_and_matches(block, tmp_path):
    pytest.importorskip("litert_torch")
    from ai_edge_litert.interpreter import Interpreter

    model, x = block
    x = x[:1]
    result = export("tflite", model, x, tmp_path / "lsa.tflite")
    assert any("workaround" in note for note in result.notes)
    assert type(model.attn) is LinearSelfAttention
    interpreter = Interpreter(model_path=str(result.path), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.numpy())
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-5)


def test_int8_capture_goes_through_the_substitute_so_the_integer_model_converts(block, tmp_path):
    """A captured graph cannot be rewritten by module: the INT8 model must be captured through the substitute."""
    pytest.importorskip("litert_torch")
    from edgekit.quant import pt2e, scheme
    from edgekit.runtimes import open_session

    model, x = block
    calibration = [torch.randn(8, 3, 4, 16, generator=torch.Generator().manual_seed(1))]
    converted = pt2e.ptq(pt2e.capture(model, x[:1]), scheme.xnnpack_quantizer(), calibration)
    assert type(model.attn) is LinearSelfAttention
    assert not any(n.target == torch.ops.aten.expand.default for n in converted.graph.nodes)
    result = export("tflite", converted, x[:1], tmp_path / "lsa_int8.tflite")
    out = open_session(result.path, threads=1).run(x.numpy())
    with torch.no_grad():
        reference = converted(x).numpy()
    assert np.abs(out - reference).max() < 0.05 * np.abs(reference).max()
