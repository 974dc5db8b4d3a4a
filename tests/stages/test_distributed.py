"""Data-parallel training under torchrun (2 CPU processes, gloo) matches one process, with the augmentation,
mixing, accumulation and stochastic depth on (every draw is keyed by image or global-batch position)."""

import json
import os
import subprocess
import sys

from safetensors.torch import load_file

ARGS = ["compress", "test_vit", "--data", "fashion-mnist", "--img-size", "32", "--subset", "512", "--epochs", "2",
        "--batch-size", "32", "--formats", "onnx", "--eval-samples", "256", "--runs", "3",
        "--auto-augment", "rand-m9-mstd0.5", "--re-prob", "0.25", "--mixup", "0.2", "--cutmix", "1.0",
        "--accum-steps", "2", "--drop-path", "0.1"]


def run(prefix: list[str], out, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([*prefix, *ARGS, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_match_one(tmp_path):
    single = run([sys.executable, "-m", "edgekit"], tmp_path / "single", tmp_path / "c1")
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
                "-m", "edgekit"]
    ddp = run(torchrun, tmp_path / "ddp", tmp_path / "c2")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = load_file(tmp_path / "single" / "model" / "model.safetensors")
    b = load_file(tmp_path / "ddp" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-3, worst  # same global batches, gradients averaged across ranks: rounding only
    assert not any(p.name.startswith(".ddp.partial") for p in tmp_path.iterdir())  # rank 1 wrote nothing
    history = {name: next(s for s in json.loads((tmp_path / name / "report.json").read_text())["stages"]
                          if s["name"] == "teacher")["metrics"]["history"] for name in ("single", "ddp")}
    assert [(h["world_size"], h["rank_samples"]) for h in history["single"]] == [(1, 512)] * 2
    assert [(h["world_size"], h["rank_samples"]) for h in history["ddp"]] == [(2, 256)] * 2  # each rank half
