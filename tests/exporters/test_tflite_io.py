"""--tflite-io float: the full-integer graph wrapped in a float32 interface, numerically the same file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekit.core.errors import EdgekitError
from edgekit.exporters.tflite import export_tflite
from edgekit.quant import pt2e, scheme
from edgekit.quant.census import tflite_census
from edgekit.runtimes import open_session


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def int8_model():
    torch.manual_seed(0)
    batches = [torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    return pt2e.ptq(pt2e.capture(Tiny().eval(), batches[0][:1]), scheme.xnnpack_quantizer(), batches), batches


def test_float_interface_wraps_the_integer_graph(int8_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model, batches = int8_model
    integer = export_tflite(model, batches[0][:1], tmp_path / "int8.tflite")
    floating = export_tflite(model, batches[0][:1], tmp_path / "float.tflite", interface="float")
    assert any("float32 interface" in note for note in floating.notes) and floating.fallback_ops == []
    interpreter = Interpreter(str(floating.path))
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert interpreter.get_output_details()[0]["dtype"] == np.float32
    assert Interpreter(str(integer.path)).get_input_details()[0]["dtype"] == np.int8
    # the same integer arithmetic: edgekit's runner quantizes/dequantizes exactly as the added ops do
    x = batches[2][:4].numpy()
    np.testing.assert_allclose(open_session(floating.path, threads=1).run(x),
                               open_session(integer.path, threads=1).run(x), atol=1e-6)
    census = tflite_census(floating.path)
    assert census["float_ops"] == 0 and census["int8_ops"] >= 2


def test_unknown_interface_is_refused(int8_model, tmp_path):
    model, batches = int8_model
    with pytest.raises(EdgekitError, match="interface must be one of int8, float"):
        export_tflite(model, batches[0][:1], tmp_path / "x.tflite", interface="fp16")
    assert not list(tmp_path.iterdir())
