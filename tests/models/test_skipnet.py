"""SkipNet (edgekit.models.families.skipnet): hard gates at inference, a closed gate is the identity, the gate cost
through the shared trainer, torch.cond export that skips for real (ONNX If, fewer kernels run), pruning, and the
whole chain in every runtime with the tiny variant."""

import json

import numpy as np
import pytest
import torch
from tiny_data import TINY_CHAIN_FLAGS, tiny_data

from edgekit.models import MODELS, resolve
from edgekit.models.build import create
from edgekit.models.checkpoint import load_checkpoint
from edgekit.models.complexity import count_params
from edgekit.models.control_flow import control_flow, control_flow_name
from edgekit.models.families.skipnet import GatedBlock, SkipResNet


def tiny(size: int = 32) -> SkipResNet:
    torch.manual_seed(0)
    return create(resolve("test_skipnet"), 10, size)


def brightness_gates(model: SkipResNet) -> None:
    """Every gate opens on an image with any signal and closes on an all-zero one (whose features are all 0)."""
    with torch.no_grad():
        for block in model.gated_blocks():
            gate = block.gate
            gate.proj.weight.zero_()
            gate.proj.bias.zero_()
            gate.proj.weight[0].fill_(1.0)
            gate.fc.weight.zero_()
            gate.fc.weight[0, 0] = 50.0
            gate.fc.bias.fill_(-1.0)


def test_registered_with_resnet_sizes_and_ungated_first_blocks():
    assert {"skipnet_resnet18", "skipnet_resnet34", "test_skipnet"} <= set(MODELS.names())
    spec = resolve("skipnet_resnet18")
    assert spec.family == "skipnet" and spec.plugin and "1711.09485" in spec.notes
    with torch.device("meta"):
        model = create(spec, 1000, 224)
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    gates = sum(count_params(b.gate) for b in model.gated_blocks())
    assert count_params(model) - gates == pytest.approx(11.69e6, rel=0.01)  # torchvision's ResNet-18
    assert len(model.gated_blocks()) == 4  # one per stage: the first block of each stage is never gated
    assert all(not isinstance(stage[0], GatedBlock) for stage in model.stages)
    assert control_flow_name(model) == "block skipping"


def test_gates_are_hard_at_inference_and_a_closed_gate_is_the_identity():
    model = tiny()
    block = model.gated_blocks()[0]
    x = torch.randn(4, 32, 8, 8)
    with torch.no_grad():
        block.gate.fc.weight.zero_()
        block.gate.fc.bias.fill_(-1.0)  # p = 0.27 < 0.5: closed
        assert torch.equal(block(x), x)
        block.gate.fc.bias.fill_(1.0)  # p = 0.73: open, exactly the residual block
        assert torch.equal(block(x), block.block(x))
        block.threshold = 0.8  # the same p is below a higher threshold: closed again
        assert torch.equal(block(x), x)
    block.threshold = 0.5
    brightness_gates(model)
    decisions = model.gate_decisions(torch.cat([torch.zeros(1, 3, 32, 32), torch.randn(1, 3, 32, 32)]))
    assert decisions.tolist() == [[False, False], [True, True]]


def test_training_gates_pass_gradients_and_the_cost_is_the_mean_gate():
    model = tiny().train()
    out = model(torch.randn(4, 3, 32, 32))
    cost = model.auxiliary_loss()
    assert isinstance(cost, torch.Tensor) and 0 < cost.item() < model.gate_cost
    (out.sum() + cost).backward()
    assert all(b.gate.fc.weight.grad is not None and b.gate.fc.weight.grad.abs().sum() > 0
               for b in model.gated_blocks())  # straight-through: the hard forward still trains the gates
    assert model.auxiliary_loss() == 0.0  # read once: the next forward records anew
    model.set_gate_mode("soft")
    with pytest.raises(ValueError):
        model.set_gate_mode("gumbel")


def test_the_shared_trainer_adds_the_gate_cost_in_training_and_distillation():
    from edgekit.stages.distill import Distillation
    from edgekit.stages.train import TrainConfig, train

    data = tiny_data()
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05, eval_samples=16, label_smoothing=0.0, warmup_fraction=0.0)
    images = torch.stack([data.train[i][0] for i in range(32)])

    def open_fraction(gate_cost: float, distil: bool) -> float:
        torch.manual_seed(0)
        model = create(resolve("test_skipnet"), 4, 32)
        model.gate_cost = gate_cost
        objective = None
        if distil:
            teacher = create(resolve("test_skipnet"), 4, 32)
            objective = Distillation(teacher, model, images[:1], temperature=2.0, alpha=0.5, label_smoothing=0.0)
        train(model, data, config, label="test", objective=objective)
        with torch.no_grad():
            return float(torch.cat([b.gate(x) for b in model.gated_blocks()
                                    for x in [_block_input(model, b, images)]]).mean())

    free = open_fraction(0.0, distil=False)
    assert open_fraction(20.0, distil=False) < free - 0.2
    assert open_fraction(20.0, distil=True) < free - 0.2


def _block_input(model: SkipResNet, block: GatedBlock, images: torch.Tensor) -> torch.Tensor:
    seen = []
    hook = block.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        model.eval()(images)
    finally:
        hook.remove()
    return seen[0]


def test_cond_export_skips_blocks_and_matches_the_dense_model(tmp_path):
    import onnxruntime as ort

    from edgekit.exporters import export

    model = tiny()
    brightness_gates(model)
    dark, bright = torch.zeros(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    with control_flow(model, True):
        program = torch.export.export(model, (bright,))
        assert sum("cond" in str(n.target) for n in program.graph.nodes) == 2
        for x in (dark, bright):
            torch.testing.assert_close(program.module()(x), model(x), rtol=0, atol=1e-6)
    assert not any(b.control_flow for b in model.gated_blocks())  # back to the dense form

    result = export("onnx", model, bright, tmp_path / "m.onnx")
    assert result.op_counts["If"] == 2 and "block skipping realised in onnx" in result.notes[-1]

    def run(x: torch.Tensor) -> tuple[np.ndarray, int]:
        options = ort.SessionOptions()
        options.enable_profiling, options.profile_file_prefix = True, str(tmp_path / "profile")
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), options, providers=["CPUExecutionProvider"])
        out = session.run(None, {"input": x.numpy()})[0]
        events = json.loads(open(session.end_profiling()).read())
        convs = sum(1 for e in events if e.get("cat") == "Node" and e["name"].endswith("kernel_time")
                    and "Conv" in e.get("args", {}).get("op_name", ""))
        return out, convs

    (dark_out, dark_convs), (bright_out, bright_convs) = run(dark), run(bright)
    np.testing.assert_allclose(dark_out, model(dark).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(bright_out, model(bright).detach().numpy(), atol=1e-5)
    assert dark_convs <= bright_convs - 4  # two gated blocks of two convolutions each were not run
    both = torch.cat([dark, bright])  # a batch runs a block when any of its gates opens; each input selects
    np.testing.assert_allclose(ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": both.numpy()})[0],
                               model(both).detach().numpy(), atol=1e-5)


def test_pruning_keeps_the_gates_reading_the_pruned_stream():
    from edgekit.pruning import PruneConfig, prune

    model = tiny()
    x = torch.randn(2, 3, 32, 32)
    changes, _, _ = prune(model, PruneConfig(0.3), x[:1])
    assert changes
    for block in model.gated_blocks():
        assert block.gate.proj.in_features == block.block.conv1.in_channels < 64  # the stream narrowed, the gate too
        assert block.gate.proj.out_features == 10 and block.gate.fc.out_features == 1  # the gate's own width kept
    assert model.gated_blocks()[1].block.conv1.in_channels < 64
    with torch.no_grad():
        assert model(x).shape == (2, 10)


def test_compress_prunes_quantizes_and_verifies_in_onnxruntime(cli_fast, tmp_path):
    """One format per family keeps CI short (TFLite: T2T-ViT's test; .pte: the main chain's); every format of every
    family: benchmarks/int8_matrix.py and benchmarks/families_fmnist.py."""
    out = tmp_path / "run"
    result = cli_fast("compress", "test_skipnet", *TINY_CHAIN_FLAGS, "--int8", "--formats", "onnx",
                      "--qat-epochs", "0.25", "--calib-samples", "64", "--model-arg", "threshold=0.45",
                      "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "test_skipnet" and report["source"] == "edgekit.models.families.skipnet"
    assert report["ok"], [a.get("error") for a in report["artifacts"]]
    assert [a["format"] for a in report["artifacts"]] == ["onnx"]
    for artifact, baseline in zip(report["artifacts"], report["baseline"]):
        assert artifact["precision"] == "int8" and artifact["status"] == "ok" and artifact["parity"]["passed"]
        assert baseline["precision"] == "fp32" and baseline["parity"]["passed"]
        assert artifact["params"] < baseline["params"]  # pruned
        assert any("block skipping not realised in the int8" in n for n in artifact["notes"])
    notes = {b["format"]: " ".join(b["notes"]) for b in report["baseline"]}
    assert "block skipping realised in onnx" in notes["onnx"]
    assert "baseline onnx (fp32): block skipping realised in onnx" in (out / "report.md").read_text()
    model, description = load_checkpoint(out / "model")  # the gate threshold is part of the pruned student
    assert description.model_args == {"threshold": 0.45} and {b.threshold for b in model.gated_blocks()} == {0.45}


def test_formats_without_control_flow_get_the_dense_form_and_say_so(tmp_path):
    from edgekit.exporters.base import ExportResult, _write

    model = create(resolve("test_skipnet"), 10, 32)
    seen = {}

    def exporter(module, example, path):
        seen[path.suffix] = [b.control_flow for b in module.gated_blocks()]
        return ExportResult(path=path)

    for fmt, keeps in (("onnx", True), ("tflite", False), ("pte", False)):
        result = _write(exporter, model, torch.zeros(1, 3, 32, 32), tmp_path / f"m.{fmt}", {}, (fmt, keeps))
        realised = "block skipping realised in" if keeps else "block skipping not realised in"
        assert result.notes == [result.notes[0]] and result.notes[0].startswith(f"{realised} {fmt}"), result.notes
    assert seen == {".onnx": [True, True], ".tflite": [False, False], ".pte": [False, False]}
    assert not any(b.control_flow for b in model.gated_blocks())  # back to dense after the export
