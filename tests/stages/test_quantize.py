"""The int8 stage: mode choice, calibration data, bad input, and the prune → KD → QAT chain end to end."""

import pytest
import torch
from tiny_data import TINY_MIN_AGREEMENT_INT8

from edgekit.core.errors import EdgekitError
from edgekit.core.options import Int8Options
from edgekit.core.recipe import load_recipe
from edgekit.data.base import DataBundle
from edgekit.pipeline import run
from edgekit.quant.backends import choose_backend
from edgekit.stages.quantize import calibration_batches, resolve_mode


class Images(torch.utils.data.Dataset):
    """Index-valued images that record whether augmentation was on when they were read."""

    def __init__(self, n):
        self.n, self.train, self.read_while_training = n, True, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.read_while_training.append(self.train)
        return torch.full((3, 4, 4), float(i)), 0


def bundle(train=True, labels=True):
    return DataBundle(name="d", val=Images(10), train=Images(100) if train else None, num_classes=2,
                      class_names=None, has_labels=labels)


@pytest.mark.parametrize("options, labels, mode", [
    ({}, True, "qat"), ({}, False, "ptq"), ({"qat_epochs": 0}, True, "ptq"),
    ({"mode": "ptq"}, True, "ptq"), ({"backend": "nncf"}, True, "ptq"),
])
def test_mode_is_qat_only_when_training_is_possible(options, labels, mode):
    assert resolve_mode(Int8Options(enabled=True, **options), labels) == mode


def test_qat_is_refused_without_training_data_or_with_a_ptq_backend():
    with pytest.raises(EdgekitError, match="PTQ only"):
        resolve_mode(Int8Options(enabled=True, mode="qat"), labelled=False)
    with pytest.raises(EdgekitError, match="post-training only"):
        resolve_mode(Int8Options(enabled=True, mode="qat", backend="nncf"), labelled=True)


@pytest.mark.parametrize("requested, mode, family, max_drop, chosen", [
    ("auto", "ptq", "mobilenetv3", None, "nncf"), ("auto", "ptq", "efficientnet", None, "nncf"),
    ("auto", "qat", "efficientnet", None, "pt2e"), ("auto", "ptq", "resnet", None, "pt2e"),
    ("auto", "ptq", None, None, "pt2e"), ("auto", "ptq", "mobilenetv3", 1.0, "pt2e"),
    ("pt2e", "ptq", "mobilenetv3", None, "pt2e"), ("nncf", "ptq", "resnet", None, "nncf"),
])
def test_auto_backend_gives_bias_correction_to_the_fragile_families_ptq(requested, mode, family, max_drop, chosen):
    backend, why = choose_backend(requested, mode, family, max_drop)
    assert backend.name == chosen and why


def test_auto_backend_says_when_nncf_is_missing(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    backend, why = choose_backend("auto", "ptq", "mobilenetv3")
    assert backend.name == "pt2e" and "not installed" in why


def test_calibration_uses_unaugmented_training_images():
    data = bundle()
    batches = calibration_batches(data, 20, 8, seed=0)
    assert [b.shape[0] for b in batches] == [8, 8, 4]
    assert data.train.read_while_training and not any(data.train.read_while_training)
    assert data.train.train  # augmentation switched back on
    values = torch.cat([b[:, 0, 0, 0] for b in batches])
    assert len(set(values.tolist())) == 20 and values.max() < 100  # distinct training images
    assert torch.equal(torch.cat(calibration_batches(data, 20, 8, seed=0)), torch.cat(batches))  # seeded


@pytest.mark.parametrize("args, fragment", [
    (["--int8", "qat", "--data", "synthetic"], "PTQ only"),
    (["--int8", "--calib-samples", "0"], "--calib-samples"),
    (["--int8", "--quant-backend", "nncff"], "did you mean 'nncf'"),
    (["--int8", "--max-drop", "-1"], "--max-drop"),
    (["--int8", "--max-drop", "1", "--data", "synthetic"], "labelled --data"),
    (["--int8-mode", "ptq"], "--int8-mode: this option sets the int8 stage, which is not in this plan (add --int8)"),
    (["--int8", "qat", "--quant-backend", "nncf"], "post-training only"),
    (["--tflite-io", "float"], "--tflite-io sets the interface of an int8 .tflite file: add --int8"),
    (["--int8", "--tflite-io", "float", "--formats", "onnx"], "add tflite to --formats"),
    (["--int8", "--tflite-io", "fp16"], "--tflite-io: 'fp16' is not one of int8, float"),
])
def test_bad_int8_input_is_one_line_and_exit_2(cli_fast, tmp_path, args, fragment):
    result = cli_fast("compress", "test_effnet", "--img-size", "32", *args, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_prune_distil_qat_chain_ships_integer_files_in_every_format(tmp_path, capsys):
    """The chain once with two formats, then with a third: the rerun takes every model stage from the cache. No bench:
    timing a file does not depend on its precision, and tests/test_pipeline.py times FP32 ones."""
    flags = dict(model="test_effnet", data="fashion-mnist", img_size=32, subset=512, epochs=1, prune=0.3, int8=True,
                 out=tmp_path / "run", bench=False, parity_samples=8, eval_samples=256, tflite_io="float",
                 overwrite=True, min_agreement_int8=TINY_MIN_AGREEMENT_INT8)
    first, _ = run(load_recipe(None, {**flags, "formats": "onnx,tflite"})[0])
    assert not any(s["cached"] for s in first["stages"])
    report, out = run(load_recipe(None, {**flags, "formats": "onnx,tflite,pte"})[0])
    computed = {(s["name"], s.get("target")) for s in report["stages"] if not s["cached"]} - {("data", None)}
    assert {name for name, target in computed} == {"export", "verify"} and \
        {target for _, target in computed} == {"pte"}  # only the new format's files are new work
    assert [a["sha256"] for a in report["artifacts"][:2]] == [a["sha256"] for a in first["artifacts"]]
    assert all(a["fidelity"]["n"] == 256 and a["fidelity"]["passed"] for a in report["artifacts"])
    assert all(b["fidelity"]["agreement"] == 100.0 for b in report["baseline"])  # FP32 files: all 256 images
    names = [s["name"] for s in report["stages"]]
    assert names.index("prune") < names.index("kd") < names.index("int8") < names.index("export")
    stage = next(s for s in report["stages"] if s["name"] == "int8")["metrics"]
    assert stage["mode"] == "qat" and stage["qat"]["kd"] and stage["census"]["int8_ops"] > 0
    assert stage["activation_ranges"] and stage["scheme"]["weights"].startswith("int8 symmetric")
    assert stage["scheme"]["activation_ranges"].startswith("QAT fake-quantizers")
    assert report["ok"], [a["error"] for a in report["artifacts"]]
    for artifact in report["artifacts"]:
        assert artifact["precision"] == "int8" and artifact["parity"]["passed"]
        assert artifact["vs_fp32"]["size_ratio"] < 0.6  # tiny model: scales, biases and graph weigh more than at scale
        assert abs(artifact["vs_fp32"]["top1_drop"]) < 30
        census = artifact["int8_census"]
        assert census["int8_ops"] > 0, census
    onnx = next(a for a in report["artifacts"] if a["format"] == "onnx")
    assert "Conv" not in onnx["int8_census"]["float_op_types"]  # every conv runs as QLinearConv
    tflite = next(a for a in report["artifacts"] if a["format"] == "tflite")
    assert any("float32 interface" in note for note in tflite["notes"]) and tflite["fallback_ops"] == []
    assert (out / "model" / "model.safetensors").is_file()  # the float student, QAT weights included
    markdown = (out / "report.md").read_text()
    assert "## INT8" in markdown and "mode: **qat**" in markdown
