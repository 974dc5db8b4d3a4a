"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

BASE = ["--data", "synthetic", "--img-size", "32", "--epochs", "0"]


def assert_one_line_error(result, fragment):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgekit: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["compress", "efnet_lite0", *BASE], "did you mean 'effnet_lite0'"),
    (["compress", "./weights/model.pth", *BASE], "is a path, not a model name"),
    (["compress", "test_effnet", *BASE, "--weights", "missing.safetensors"], "does not exist"),
    (["compress", "test_effnet", "--data", "synthetic", "--img-size", "0"], "--img-size 0 is out of range"),
    (["compress", "test_effnet", "--data", "synthetic", "--img-size", "100000"], "out of range"),
    (["compress", "test_effnet", *BASE, "--formats", "onnx,coreml"], "unknown format 'coreml'"),
    (["compress", "test_effnet", *BASE, "--prune", "0.3", "--prune-criterion", "l3"], "did you mean 'l2'"),
    (["compress", "test_effnet", *BASE, "--prune", "0.96"], "--prune"),
    (["compress", "test_effnet", *BASE, "--prune", "0.3", "--prune-ignore", "conv_stemm"], "did you mean 'conv_stem'"),
    (["compress", "test_effnet", *BASE, "--prune-target", "flops=0.5"], "must be macs=F or latency=F"),
    (["compress", "test_effnet", *BASE, "--int8", "--quant-backend", "onnxrt"], "'onnxrt' is not one of auto, pt2e, nncf"),
    (["compress", "test_effnet", *BASE, "--int8", "--calib-observer", "percentile"], "'percentile' is not one of auto"),
    (["compress", "test_effnet", *BASE, "--kd"], "--kd distils a compressed student"),
    (["compress", "test_effnet", "--data", "synthetic", "--prune", "0.3", "--kd"], "--kd needs labelled --data"),
    (["compress", "test_effnet", *BASE, "--resume", "missing-state.pt"], "--resume 'missing-state.pt' does not exist"),
    (["compress", "test_effnet", *BASE, "--epochs", "-1"], "--epochs"),
    (["compress", "test_effnet", "--data", "no_such_dataset"], "neither a known dataset"),
    (["bench", "x.onnx", "--device", "nowhere"], "unknown device 'nowhere'"),
    (["bench", "missing.onnx"], "does not exist"),
    (["bench", "model.h5"], "not a known artifact"),
    (["compres", "resnet18"], "No such command"),
])
def test_bad_input_is_one_line_exit_2(cli_fast, tmp_path, args, fragment):
    result = cli_fast(*args, cwd=tmp_path)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, fragment", [
    (["compress", "test_effnet", *BASE, "--prune", "0.96"], "--prune"),  # refused by the options schema
    (["compress", "test_effnet", *BASE, "--prune", "0.3", "--prune-ignore", "conv_stemm"], "did you mean"),  # plan
    (["bench", "missing.onnx"], "does not exist"),
])
def test_bad_input_through_a_real_process(cli, tmp_path, args, fragment):
    """What only a real process shows: nothing else on stderr (native libraries print below sys.stderr)."""
    assert_one_line_error(cli(*args, cwd=tmp_path), fragment)


def test_unsafe_pickle_and_shape_mismatch(cli, tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "small.pth")
    result = cli("compress", "test_resnet", *BASE, "--weights", str(tmp_path / "small.pth"), cwd=tmp_path)
    assert_one_line_error(result, "does not fit this model")
    from edgekit.models import resolve
    from edgekit.models.build import create

    state = create(resolve("test_resnet"), 1000, 32).state_dict()
    state["conv1.0.weight"] = torch.zeros(1)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    result = cli("compress", "test_resnet", *BASE, "--weights", str(tmp_path / "w.safetensors"), cwd=tmp_path)
    assert_one_line_error(result, "shape mismatch")
    assert not (tmp_path / "runs").exists()


def test_unwritable_out(cli_fast, tmp_path):
    (tmp_path / "file").write_text("x")
    result = cli_fast("compress", "test_effnet", *BASE, "--out", str(tmp_path / "file" / "run"), cwd=tmp_path)
    assert_one_line_error(result, "not a directory")


def test_empty_image_folder(cli_fast, tmp_path):
    (tmp_path / "imgs").mkdir()
    result = cli_fast("compress", "test_effnet", "--data", str(tmp_path / "imgs"), cwd=tmp_path)
    assert_one_line_error(result, "no class sub-folders")


def test_debug_shows_the_traceback(tmp_path):
    env = {**os.environ, "EDGEKIT_DEBUG": "1"}
    result = subprocess.run([sys.executable, "-m", "edgekit", "compress", "effnet_lite", *BASE], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_models_json_lists_the_zoo(cli, tmp_path):
    result = cli("models", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert len(rows) >= 39
    b0 = rows["effnet_b0"]
    assert b0["timm_id"] == "efficientnet_b0" and b0["img_size"] == 224
    assert 5.2e6 < b0["params"] < 5.4e6 and 3.5e8 < b0["macs"] < 4.2e8  # published: 5.3M params, 0.39 GMACs


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("edgekit ")
