"""Training device and precision selection (CI has no GPU: CUDA is simulated where only the choice is tested)."""

import pytest
import torch

from edgekit.core.errors import EdgekitError
from edgekit.stages import accelerator
from edgekit.stages.accelerator import select


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)


def test_auto_on_a_cpu_only_machine_is_fp32_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    chosen = select()
    assert chosen.device == torch.device("cpu") and chosen.precision == "fp32" and not chosen.cuda
    assert not chosen.scaler().is_enabled()


def test_cuda_asked_without_a_gpu_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EdgekitError, match="no CUDA GPU"):
        select("cuda")


def test_auto_picks_the_gpu_of_this_rank_and_fp16_when_it_lacks_bf16(fake_cuda, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    chosen = select()
    assert chosen.device == torch.device("cuda", 1) and chosen.precision == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert select("auto").precision == "bf16"
    assert select("cpu").device == torch.device("cpu")


def test_cpu_precisions(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EdgekitError, match="fp16 needs a CUDA GPU"):
        select("cpu", "fp16")
    monkeypatch.setattr(accelerator, "cpu_has_bf16", lambda: False)
    with pytest.raises(EdgekitError, match="no bf16 instructions"):
        select("cpu", "bf16")
    monkeypatch.setattr(accelerator, "cpu_has_bf16", lambda: True)
    chosen = select("cpu", "bf16")
    with chosen.autocast():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
