"""The pruning engine: widths, kept layers, criteria, scopes, steps, per-layer ratios, attention attributes."""

from __future__ import annotations

import pytest
import torch
from prune_helpers import build, changed_widths_not_multiple, same_outputs

from edgekit.core.errors import EdgekitError
from edgekit.models.complexity import count_macs
from edgekit.pruning import CRITERIA, PruneConfig, prune
from edgekit.pruning.target import parse_target, search_ratio

X = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("round_to", [8, 16])
def test_widths_are_multiples_of_round_to_and_classifier_and_stem_are_kept(round_to):
    model = build("test_efficientnet", 64)
    stem, classes = model.conv_stem.out_channels, model.classifier.out_features
    changes, before, plan = prune(model, PruneConfig(0.3, round_to=round_to), X)
    assert changes and not changed_widths_not_multiple(changes, before, round_to)
    assert model.conv_stem.out_channels == stem and model.classifier.out_features == classes
    assert {"conv_stem", "classifier"} <= set(plan.ignored)


def test_stem_feeding_a_residual_stream_is_pruned_with_it():
    model = build("test_resnet", 64)  # conv1's channels are layer1's residual stream
    prune(model, PruneConfig(0.3), X)
    assert model.layer1[0].conv2.out_channels < 32 or model.conv1[0].out_channels < 24


def test_prune_ignore_keeps_the_named_layers_and_misses_get_a_did_you_mean():
    model = build("test_resnet", 64)
    width = model.layer4[0].conv1.out_channels
    _, _, plan = prune(model, PruneConfig(0.3, ignore=["layer4.*.conv1"]), X)
    assert model.layer4[0].conv1.out_channels == width and "layer4.0.conv1" in plan.ignored
    with pytest.raises(EdgekitError, match="did you mean 'layer4.0.conv1'"):
        prune(build("test_resnet", 64), PruneConfig(0.3, ignore=["layer4.0.conv11"]), X)


@pytest.mark.parametrize("criterion", CRITERIA.names())
def test_every_criterion_prunes(criterion):
    model = build("test_resnet", 64)
    macs = count_macs(model, 64)

    def grads(step):  # taylor needs gradients; the stage computes them from real data
        model.zero_grad()
        model(torch.randn(4, 3, 64, 64)).logsumexp(1).sum().backward()

    prune(model, PruneConfig(0.3, criterion=criterion), X, before_step=grads)
    assert count_macs(model, 64) < 0.7 * macs


def test_unknown_criterion_has_a_did_you_mean():
    with pytest.raises(EdgekitError, match="did you mean 'lamp'"):
        prune(build("test_resnet", 64), PruneConfig(0.3, criterion="lamb"), X)


def test_global_scope_and_steps_and_per_layer_ratios():
    uniform = build("test_resnet", 64)
    prune(uniform, PruneConfig(0.3), X)
    glob = build("test_resnet", 64)
    prune(glob, PruneConfig(0.3, scope="global"), X)
    widths = lambda m: [c.out_channels for c in m.modules() if isinstance(c, torch.nn.Conv2d)]  # noqa: E731
    assert widths(glob) != widths(uniform)
    steps, calls = build("test_resnet", 64), []
    prune(steps, PruneConfig(0.3, steps=3), X, after_step=calls.append)
    assert calls == [0, 1, 2] and widths(steps) == widths(uniform)
    local = build("test_resnet", 64)
    prune(local, PruneConfig(0.0, ratios={"layer3.*.conv1": 0.5}), X)
    assert local.layer3[0].conv1.out_channels == 24 and local.layer4[0].conv1.out_channels == 96


def test_vit_head_dims_follow_and_fused_attention_agrees():
    model = build("test_vit", 64)
    attn = model.blocks[0].attn
    heads = attn.num_heads
    prune(model, PruneConfig(0.3), X)
    assert attn.num_heads == heads and attn.qkv.out_features == 3 * heads * attn.head_dim
    assert attn.head_dim % 8 == 0 and attn.scale == attn.head_dim ** -0.5
    assert attn.proj.in_features == attn.attn_dim == heads * attn.head_dim
    with torch.no_grad():
        fused = model(X)
        for block in model.blocks:
            block.attn.fused_attn = False
        assert torch.allclose(model(X), fused, atol=1e-5)


def test_convnext_layer_scale_follows_the_channels():
    model = build("test_convnext", 64)
    prune(model, PruneConfig(0.3), X)
    for block in model.stages[1].blocks:
        assert block.gamma.shape[0] == block.conv_dw.out_channels


def test_targets():
    assert parse_target("macs=0.5") == ("macs", 0.5) and parse_target("latency=0.25") == ("latency", 0.25)
    for bad in ("flops=0.5", "macs=1.5", "macs=x", "macs"):
        with pytest.raises(EdgekitError, match="--prune-target"):
            parse_target(bad)
    model = build("test_resnet", 64)
    macs = lambda m: float(count_macs(m, 64))  # noqa: E731
    ratio, probes = search_ratio(model, PruneConfig(0.0), X, macs, 0.6, "macs", iterations=3)
    pruned = build("test_resnet", 64)
    prune(pruned, PruneConfig(ratio), X)
    assert macs(pruned) <= 0.6 * macs(model) and probes[-1]["ratio"] <= 0.95
    assert same_outputs(model, build("test_resnet", 64), X)  # the search prunes copies only
    with pytest.raises(EdgekitError, match=r"cannot be reached: at the largest ratio .* is 0\.\d+x"):
        search_ratio(model, PruneConfig(0.0, ignore=["layer*"]), X, macs, 0.05, "macs", iterations=1)
