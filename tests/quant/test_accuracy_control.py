"""--max-drop: sensitivity ranking on a real tiny model, and the search over float-layer prefixes."""

import types

import pytest
import torch

from edgekit.core.errors import EdgekitError
from edgekit.quant import accuracy_control, pt2e
from edgekit.quant.backends import QUANT_BACKENDS


class Labelled(torch.utils.data.Dataset):
    def __init__(self, n=16):
        generator = torch.Generator().manual_seed(3)
        self.x = torch.randn(n, 3, 16, 16, generator=generator)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], 0


def test_quantizable_layers_are_the_convs_and_linears(tiny):
    assert accuracy_control.quantizable_layers(tiny) == ["stem", "dw", "pw", "head"]


def test_a_layer_with_an_outlier_ranks_most_sensitive(tiny, batches):
    with torch.no_grad():  # one huge weight: per-channel int8 loses the rest of that channel
        tiny.pw.weight[0, 0] = 40.0
    graph = pt2e.capture(tiny, batches[0][:1])
    ranking = accuracy_control.rank_layers(tiny, graph, QUANT_BACKENDS.get("pt2e"), batches, batches[1])
    assert [r["layer"] for r in ranking][0] in ("pw", "head")  # the outlier's layer, or the one it feeds
    assert {r["layer"] for r in ranking} == {"stem", "dw", "pw", "head"}
    assert ranking[0]["sensitivity"] >= ranking[-1]["sensitivity"]


@pytest.fixture
def fake(monkeypatch, tiny, batches):
    """The search with stubbed quantization: top-1 rises 1 point per layer kept in float (FP32: 90%)."""
    recipe = types.SimpleNamespace(max_drop=1.5, eval_samples=None)
    data = types.SimpleNamespace(has_labels=True, val=Labelled(), name="d")
    backend = types.SimpleNamespace(quantize=lambda graph, quantizer, batches: quantizer, accuracy_control=None)
    monkeypatch.setattr(accuracy_control, "evaluate", lambda *a, **k: {"top1": 90.0})
    monkeypatch.setattr(accuracy_control.scheme, "xnnpack_quantizer", lambda qat, layers, observer: layers)
    monkeypatch.setattr(accuracy_control, "top1_of_deployed", lambda layers, val, name: (85.0 + len(layers), "stub"))
    monkeypatch.setattr(accuracy_control, "rank_layers", lambda *a: [{"layer": n, "sensitivity": 1.0 / (i + 1)}
                                                                    for i, n in enumerate("abcdefgh")])
    return lambda: accuracy_control.search(tiny, None, backend, batches, data, recipe.max_drop, recipe.eval_samples), recipe


def test_search_doubles_the_float_prefix_until_the_budget_holds(fake):
    search, _ = fake
    result = search()
    assert [s["float_layers"] for s in result["steps"]] == [0, 1, 2, 4]  # drops 5, 4, 3, 1
    assert result["met"] and result["float_layers"] == ["a", "b", "c", "d"]


def test_search_reports_the_best_it_reached_when_the_budget_is_impossible(fake):
    search, recipe = fake
    recipe.max_drop = -5.0  # all 8 layers in float still lose -3 points: unreachable
    result = search()
    assert not result["met"] and [s["float_layers"] for s in result["steps"]] == [0, 1, 2, 4, 8]
    assert len(result["float_layers"]) == 8


def test_search_needs_labels(tiny):
    data = types.SimpleNamespace(has_labels=False)
    with pytest.raises(EdgekitError, match="labelled"):
        accuracy_control.search(tiny, None, None, [], data, 1, None)


def test_nncf_float_nodes_map_back_to_modules():
    from edgekit.quant.nncf_accuracy import module_of

    layers = {"stem.conv", "blocks.0.conv_dw", "blocks.0.mlp.fc1"}
    # a conv keeps its parameter name with batch norm folded in, though its scope is the norm's
    assert module_of("stem.conv.weight", ["", "stem", "stem.bn", "_native_batch_norm"], layers) == "stem.conv"
    # a token linear reads a generated transposed weight but has its own scope
    assert module_of("val_358", ["", "blocks", "blocks.0", "blocks.0.mlp", "blocks.0.mlp.fc1", "linear"],
                     layers) == "blocks.0.mlp.fc1"
    assert module_of("val_1", ["", "blocks", "blocks.0.attn"], layers) is None


def test_nncf_accuracy_control_picks_float_layers_of_the_model(tiny):
    """NNCF's own accuracy-controlled PTQ on the FP32 ONNX export; the nodes it keeps float map to the model's layers."""
    from edgekit.quant.nncf_accuracy import nncf_float_layers

    with torch.no_grad():  # an activation outlier the head ignores: per-tensor int8 then crushes the useful channels
        tiny.pw.bias[0] = 500.0
        tiny.head.weight.mul_(10)
        tiny.head.weight[:, 0] = 0.0
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(16, 3, 16, 16, generator=generator) + 2 * torch.randn(16, 3, 1, 1, generator=generator)
               for _ in range(4)]
    with torch.no_grad():  # labels are the FP32 model's own predictions: FP32 top-1 is 100%
        images = torch.cat(batches)
        labels = tiny(images).argmax(1)
    assert len(labels.unique()) > 1
    val = torch.utils.data.TensorDataset(images, labels)
    result = nncf_float_layers(tiny, accuracy_control.quantizable_layers(tiny), batches[:2], val, 0.0)
    assert result["float_layers"] and set(result["float_layers"]) <= {"stem", "dw", "pw", "head"}
    # the stem conv had its batch norm folded in by the exporter: still mapped, by its parameter name
    assert len(result["nncf_nodes_in_float"]) == len(result["float_layers"])
    assert result["nncf_top1"] == 100.0  # NNCF met the zero-drop budget on its own ONNX model


def test_a_backend_with_its_own_accuracy_control_picks_the_float_layers(fake, tiny):  # fake: stubbed measures
    chosen = {"float_layers": ["c", "e", "f", "g"], "nncf_nodes_in_float": ["n1", "n2", "n3", "n4"]}
    stub = types.SimpleNamespace(quantize=lambda graph, quantizer, batches: quantizer, accuracy_control="stub:fn",
                                 float_layers_for=lambda *a: chosen)
    data = types.SimpleNamespace(has_labels=True, val=Labelled(), name="d")
    result = accuracy_control.search(tiny, None, stub, [], data, 1.5, None)
    assert result["method"] == "nncf.quantize_with_accuracy_control"
    assert [s["float_layers"] for s in result["steps"]] == [0, 4]  # full int8, then NNCF's choice, measured
    assert result["met"] and result["float_layers"] == chosen["float_layers"] and result["ranking"] == []
