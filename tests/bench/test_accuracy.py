import torch
from torch.utils.data import TensorDataset

from edgekit.bench.accuracy import evaluate, topk_correct


def _label_ranks(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many logits of each row beat the label's (0: top-1)."""
    return (logits > logits.gather(1, labels[:, None])).sum(1)


def test_topk_correct_counts_exactly():
    generator = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(997, 10, generator=generator), torch.randint(0, 10, (997,), generator=generator)
    ranks = _label_ranks(logits, labels)
    counts = topk_correct(logits, labels, ks=(1, 3, 5))
    assert counts == [int((ranks < k).sum()) for k in (1, 3, 5)] and all(isinstance(c, int) for c in counts)


def test_topk_correct_caps_k_at_the_number_of_classes():
    logits, labels = torch.randn(7, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    assert topk_correct(logits, labels) == [int((logits.argmax(1) == labels).sum()), 7]


def test_evaluate_sums_the_batches():
    generator = torch.Generator().manual_seed(1)
    images, labels = torch.randn(150, 4, generator=generator), torch.randint(0, 4, (150,), generator=generator)
    weights = torch.randn(4, 4, generator=generator)
    result = evaluate(lambda x: x @ weights.numpy(), TensorDataset(images, labels), "toy", batch_size=64)
    ranks = _label_ranks(images @ weights, labels)
    assert result == {"top1": round(100 * int((ranks < 1).sum()) / 150, 3), "top5": 100.0, "n": 150,
                      "dataset": "toy"}
