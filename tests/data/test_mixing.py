import pytest
import torch
from timm.data.mixup import mixup_target

from edgekit.core.errors import EdgekitError
from edgekit.data.mixing import MixConfig, mix, plan, soft_targets

BOTH = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)
SIZE = (16, 20)


def _plans(config, n=12, steps=40):
    return [plan(config, n, (3, 1, step), SIZE) for step in range(steps)]


def test_mixing_the_global_batch_equals_mixing_each_shard():
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.randn(12, 3, *SIZE, generator=generator), torch.arange(12) % 5
    plans = _plans(BOTH)
    assert {p.box is None for p in plans} == {True, False}  # both MixUp and CutMix batches
    for p in plans:
        everything = mix(images, images[list(p.partner)], p)
        shards = [list(range(0, 6)), list(range(6, 12))]  # two ranks' positions
        parts = torch.cat([mix(images[s], images[p.partners(s)], p) for s in shards])
        assert torch.equal(everything, parts)
        targets = soft_targets(labels, labels[list(p.partner)], p.lam, 5, 0.1)
        shard_targets = torch.cat([soft_targets(labels[s], labels[p.partners(s)], p.lam, 5, 0.1) for s in shards])
        assert torch.equal(targets, shard_targets)


def test_same_key_same_plan_and_partners_are_never_oneself():
    assert _plans(BOTH) == _plans(BOTH)
    assert plan(BOTH, 12, (3, 1, 0), SIZE) != plan(BOTH, 12, (3, 2, 0), SIZE)
    for p in _plans(BOTH):
        assert sorted(p.partner) == list(range(12)) and all(p.partner[i] != i for i in range(12))
        assert 0 <= p.lam <= 1


def test_cutmix_lam_is_the_area_left_to_the_image():
    for p in _plans(MixConfig(cutmix_alpha=1.0)):
        y0, y1, x0, x1 = p.box
        assert 0 <= y0 <= y1 <= SIZE[0] and 0 <= x0 <= x1 <= SIZE[1]
        assert p.lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (SIZE[0] * SIZE[1]))
        images, partners = torch.zeros(2, 1, *SIZE), torch.ones(2, 1, *SIZE)
        assert mix(images, partners, p).mean().item() == pytest.approx(1 - p.lam)


def test_mixup_blends_by_lam():
    p = plan(MixConfig(mixup_alpha=0.4), 4, (0, 0, 0), SIZE)
    assert p.box is None
    assert torch.allclose(mix(torch.zeros(4, 1, 2, 2), torch.ones(4, 1, 2, 2), p), torch.full((4, 1, 2, 2), 1 - p.lam))


def test_soft_targets_sum_to_one_and_match_timm():
    labels, partners = torch.tensor([0, 3, 2]), torch.tensor([1, 3, 0])
    targets = soft_targets(labels, partners, 0.3, 4, 0.1)
    assert torch.allclose(targets.sum(1), torch.ones(3))
    batch = torch.tensor([0, 3, 2, 0, 3, 1])
    timm_targets = mixup_target(batch, 4, 0.3, 0.1)[:3]  # timm pairs rows 0..2 with rows 5..3: [1, 3, 0]
    assert torch.allclose(targets, timm_targets)


def test_unmixed_batches_have_no_plan():
    assert all(p is None for p in _plans(MixConfig(mixup_alpha=1.0, prob=0.0)))
    assert all(p is None for p in _plans(MixConfig()))
    some = _plans(MixConfig(mixup_alpha=1.0, prob=0.5), steps=60)
    assert 10 < sum(p is None for p in some) < 50


@pytest.mark.parametrize("changes", [{"mixup_alpha": -1}, {"prob": 2}, {"switch_prob": -0.1}])
def test_bad_mix_settings_are_refused(changes):
    with pytest.raises(EdgekitError):
        MixConfig(**changes)
