"""The trainer: interrupt-and-resume reproduces an uninterrupted run (every technique on: progressive resizing,
RandAugment, erasing, MixUp/CutMix, drop-path, EMA, accumulation, PreciseBN); bad resume files are refused."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_data import tiny_data

from edgekit.models import resolve
from edgekit.models.build import create
from edgekit.stages.train import TrainConfig, _optimizer, _schedule

ARGS = ["--data", "fashion-mnist", "--img-size", "64", "--subset", "512", "--epochs", "3", "--batch-size", "32",
        "--formats", "onnx", "--eval-samples", "256", "--runs", "3", "--ema", "0.9", "--progressive", "0.5",
        "--auto-augment", "rand-m9-mstd0.5", "--re-prob", "0.25", "--mixup", "0.2", "--cutmix", "1.0",
        "--drop-path", "0.1", "--accum-steps", "2", "--precise-bn", "64"]


def compress(model: str, out: Path, cache: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "EDGEKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgekit", "compress", model, *ARGS, "--out", str(out), *extra],
                          env=full_env, capture_output=True, text=True, timeout=600)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    result = compress("test_resnet", root / "run", root / "cache")
    assert result.returncode == 0, result.stderr
    return root / "run"


def test_killed_run_resumes_to_identical_weights(tmp_path, uninterrupted):
    killed = compress("test_resnet", tmp_path / "run", tmp_path / "cache", env={"EDGEKIT_FAULT_AFTER_EPOCH": "2"})
    assert killed.returncode == -9  # SIGKILL after epoch 2's state reached the disk
    state = tmp_path / ".run.teacher-state.pt"
    assert state.is_file() and not (tmp_path / "run").exists()
    resumed = compress("test_resnet", tmp_path / "run", tmp_path / "cache", "--resume", str(state))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2" in resumed.stderr
    expected, got = weights(uninterrupted), weights(tmp_path / "run")
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert not state.exists()  # finished: the state is removed
    teacher = next(s for s in json.loads((tmp_path / "run" / "report.json").read_text())["stages"]
                   if s["name"] == "teacher")
    assert [h.get("img_size", 64) for h in teacher["metrics"]["history"]] == [32, 64, 64]  # progressive resizing


def test_corrupt_resume_file_is_refused_and_kept(tmp_path):
    state = tmp_path / "state.pt"
    state.write_bytes(b"PK\x03\x04 truncated")
    result = compress("test_resnet", tmp_path / "run", tmp_path / "cache", "--resume", str(state))
    assert result.returncode == 2 and "corrupt or truncated" in result.stderr
    assert state.read_bytes() == b"PK\x03\x04 truncated" and not (tmp_path / "run").exists()


def test_resume_from_another_model_is_refused(tmp_path):
    killed = compress("test_resnet", tmp_path / "a", tmp_path / "cache", env={"EDGEKIT_FAULT_AFTER_EPOCH": "1"})
    assert killed.returncode == -9
    result = compress("test_effnet", tmp_path / "b", tmp_path / "cache", "--resume", str(tmp_path / ".a.teacher-state.pt"))
    assert result.returncode == 2 and "checkpoint of another model" in result.stderr


def _decay_of(optimizer: torch.optim.Optimizer) -> dict[torch.nn.Parameter, float]:
    return {p: group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}


@pytest.mark.parametrize("name, kind", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_optimizer_decays_weights_only_and_trains_the_extra_modules(name, kind):
    model, extra = create(resolve("test_vit"), 5, 32), torch.nn.Linear(4, 4)
    optimizer = _optimizer(model, [extra], TrainConfig(epochs=1, optimizer=name))
    assert type(optimizer) is kind
    if name == "sgd":
        assert all(g["momentum"] == 0.9 and g["nesterov"] for g in optimizer.param_groups)
    decay = _decay_of(optimizer)
    weight_decay = TrainConfig(epochs=1).weight_decay
    for module in (model, extra):
        for key, param in module.named_parameters():
            exempt = param.ndim <= 1 or key in model.no_weight_decay()  # norms, biases, position embedding...
            assert decay[param] == (0.0 if exempt else weight_decay), key


def test_schedule_warms_up_linearly_to_the_peak_then_decays_by_a_cosine():
    config = TrainConfig(epochs=1, warmup_fraction=0.1)
    steps, warmup = 200, int(200 * config.warmup_fraction)
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=config.lr)
    scheduler = _schedule(optimizer, steps, config.warmup_fraction)
    lrs = [optimizer.param_groups[0]["lr"]]  # the lr of update 0, then of each next update
    for done in range(1, steps):
        scheduler.step_update(done)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[:warmup + 1] == pytest.approx([config.lr * t / warmup for t in range(warmup + 1)])
    cosine = [config.lr * (1 + math.cos(math.pi * t / (steps - warmup))) / 2 for t in range(steps - warmup)]
    assert lrs[warmup:] == pytest.approx(cosine) and max(lrs) == pytest.approx(config.lr)


def trained(config: TrainConfig, objective=None) -> dict[str, torch.Tensor]:
    from edgekit.stages.train import train

    torch.manual_seed(0)
    model = create(resolve("test_vit"), 4, 32)
    train(model, tiny_data(), config, label="test", objective=objective(model) if objective else None)
    return model.state_dict()


def test_gradient_accumulation_matches_the_whole_batch():
    config = TrainConfig(epochs=1, batch_size=16, lr=1e-3, eval_samples=16)
    whole, sliced = trained(config), trained(TrainConfig(**{**config.__dict__, "accum_steps": 4}))
    # float32 sums in another order: 1.05e-5 apart at one thread, below 1e-5 at two; a step is lr = 1e-3
    assert max((whole[k] - sliced[k]).abs().max().item() for k in whole) < 5e-5


def test_mixed_batches_distil_with_soft_targets():
    from edgekit.data.mixing import MixConfig
    from edgekit.stages.distill import Distillation

    teacher = create(resolve("test_vit"), 4, 32).eval()
    example = torch.zeros(1, 3, 32, 32)
    config = TrainConfig(epochs=1, batch_size=16, lr=1e-3, eval_samples=16,
                         mix=MixConfig(mixup_alpha=0.4, cutmix_alpha=1.0))
    plain = trained(TrainConfig(**{**config.__dict__, "mix": MixConfig()}))
    mixed = trained(config, lambda student: Distillation(teacher, student, example, temperature=2.0, alpha=0.5,
                                                         label_smoothing=0.1))
    assert all(torch.isfinite(v).all() for v in mixed.values())
    assert any(not torch.equal(plain[k], mixed[k]) for k in plain)


def test_progressive_resizing_refuses_a_model_that_cannot_take_the_smaller_size():
    from edgekit.core.errors import EdgekitError
    from edgekit.stages.train import _check_sizes

    config = TrainConfig(epochs=4, progressive=0.5, img_size=32, img_multiple=16)
    with pytest.raises(EdgekitError, match="cannot run at 16 px"):
        _check_sizes(create(resolve("test_vit"), 4, 32), config, "teacher")
    _check_sizes(create(resolve("test_resnet"), 4, 64), TrainConfig(epochs=4, progressive=0.5, img_size=64,
                                                                       img_multiple=32), "teacher")


def test_a_fractional_epoch_trains_that_share_of_the_batches():
    from edgekit.stages.train import train

    model = create(resolve("test_vit"), 4, 32)
    result = train(model, tiny_data(), TrainConfig(epochs=1.5, batch_size=16, lr=1e-3, eval_samples=16), label="t")
    assert [h["rank_samples"] for h in result.history] == [64, 32]  # 4 batches, then 2 of the next epoch's 4
    assert result.img_per_s and result.seconds > 0 and result.accelerator == "CPU, fp32"
