"""The verify stage: parity on a few images, then accuracy and top-1 agreement with PyTorch over the whole
validation pass; a file whose agreement is below the minimum fails."""

import numpy as np
import pytest
import torch

from edgekit.bench import accuracy
from edgekit.data.batches import first_images
from edgekit.stages import verify
from tests.tiny_data import tiny_data


class Session:
    """A runtime session double: the model's logits, with PyTorch's last class winning on the rows `flip` picks."""

    def __init__(self, model, flip):
        self.model, self.flip, self.seen = model, flip, 0

    def run(self, images):
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(images)).numpy().copy()
        for row in range(len(logits)):
            if self.flip(self.seen + row):
                logits[row, logits[row].argmin()] = logits[row].max() + 1  # a real disagreement, not a near-tie
        self.seen += len(logits)
        return logits

    def versions(self):
        return {"double": "1"}


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4)).eval()


def checks(net, data, min_agreement, parity_images=4):
    images = first_images(data.val, parity_images)
    with torch.inference_mode():
        reference = net(torch.from_numpy(images)).numpy()
    return verify.Checks(images, reference, 1e-3, min_agreement, net, data, None)


@pytest.mark.parametrize("flipped, minimum, status", [((), 100.0, "ok"), ((9,), 100.0, "failed"),
                                                      ((9,), 90.0, "ok")])
def test_agreement_over_the_validation_pass_gates_the_file(monkeypatch, flipped, minimum, status):
    net, data = model(), tiny_data()
    # parity sees the first 4 images (never flipped); the validation pass starts counting again at 4
    session = Session(net, lambda i: i - 4 in flipped)
    monkeypatch.setattr(verify, "open_session", lambda *a, **k: session)
    result = verify.Verify._verify("m.onnx", "onnx", checks(net, data, minimum))
    assert result.status == status and result.parity.passed
    assert result.fidelity.n == len(data.val) == result.accuracy.n
    assert result.fidelity.disagreements == len(flipped)
    assert result.fidelity.agreement == pytest.approx(100 * (1 - len(flipped) / len(data.val)), abs=1e-3)
    if status == "failed":
        assert result.error.startswith("top-1 agrees with PyTorch on 93.75% of 16 validation images (1 differ)")


def test_the_pytorch_pass_is_computed_once_per_model_and_split(monkeypatch):
    net, data = model(), tiny_data()
    calls = []
    original = accuracy.torch_logits_fn
    monkeypatch.setattr(accuracy, "torch_logits_fn", lambda m: calls.append(m) or original(m))
    first = accuracy.pytorch_logits(net, data.val, None)
    again = accuracy.pytorch_logits(net, data.val, None)
    assert len(calls) == 1 and again[0] is first[0]
    accuracy.pytorch_logits(net, data.val, 8)  # another cap: another pass
    assert len(calls) == 2


def test_unlabelled_data_has_no_accuracy_and_no_fidelity(monkeypatch):
    net, data = model(), tiny_data()
    data.val.labels = torch.full_like(data.val.labels, -1)
    monkeypatch.setattr(verify, "open_session", lambda *a, **k: Session(net, lambda i: False))
    result = verify.Verify._verify("m.onnx", "onnx", checks(net, data, 100.0))
    assert result.status == "ok" and result.accuracy is None and result.fidelity is None


def test_grid_step_of_dequantized_logits_and_none_for_float_logits():
    rng = np.random.default_rng(0)
    dequantized = (rng.integers(-128, 128, (1000, 10)) - 3) * 0.125
    assert verify.grid_step(dequantized) == pytest.approx(0.125)
    assert verify.grid_step(rng.normal(size=(1000, 10))) == 0.0
