"""One model of every zoo family: prune 0.3 → forward → widths multiple of 8 → replay bit for bit → ONNX parity.

Tiny variants of the real timm architectures (same module classes, fewer blocks/channels) keep the matrix cheap;
`EDGEKIT_PRUNE_ZOO=1` runs the registered zoo models themselves.
"""

from __future__ import annotations

import os

import pytest
import torch
from prune_helpers import (
    build,
    changed_widths_not_multiple,
    onnx_max_diff,
    same_outputs,
)

from edgekit.models import structure
from edgekit.pruning import PruneConfig, prune

# family -> (timm architecture or edgekit family model, input px, constructor overrides that shrink it)
FAMILIES = {
    "efficientnet (SE)": ("test_efficientnet", 64, {}),
    "efficientnet-lite": ("efficientnet_lite0", 64, {}),
    "efficientnetv2": ("tf_efficientnetv2_b0", 64, dict(depth_multiplier=0.5)),
    "mobilenetv2": ("mobilenetv2_050", 64, {}),
    "mobilenetv3 (SE)": ("mobilenetv3_small_050", 64, {}),
    "mobilenetv4": ("mobilenetv4_conv_small", 64, {}),
    "resnet": ("test_resnet", 64, {}),
    "regnet": ("regnetx_002", 64, {}),
    "convnext (layer scale)": ("test_convnext", 64, {}),
    "vit/deit (heads)": ("test_vit", 64, {}),
    "t2t-vit (heads, T2T module)": ("test_t2t_vit", 64, {}),
    "skipnet (gates)": ("test_skipnet", 64, {}),
    "mobilevit": ("mobilevit_xxs", 64, {}),
    "mobilevitv2": ("mobilevitv2_050", 64, {}),
    "swin": ("swin_tiny_patch4_window7_224", 64, dict(embed_dim=32, depths=(1, 1, 1, 1), num_heads=(2, 2, 2, 2),
                                                         window_size=2)),
    "efficientformer": ("efficientformer_l1", 224, dict(depths=(1, 1, 1, 2), embed_dims=(16, 32, 48, 64), num_vit=1)),
    "levit": ("levit_128s", 64, {}),
    "tinyvit": ("tiny_vit_5m_224", 64, dict(embed_dims=(32, 32, 64, 64), depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4))),
    "coatnet": ("coatnet_0_rw_224", 64, {}),
    "botnet": ("botnet26t_256", 64, {}),
    "fastvit": ("fastvit_t8", 64, dict(layers=(1, 1, 1, 1))),
    "edgenext (XCA)": ("edgenext_xx_small", 64, {}),
    "repvit (SE)": ("repvit_m1", 64, dict(embed_dim=(16, 32, 48, 64), depth=(1, 1, 1, 1))),
    "mobileone": ("mobileone_s1", 64, {}),
    "ghostnet (ghost modules, SE)": ("ghostnet_050", 64, {}),
    "dyconv (K kernels, attention)": ("test_dynamicconv", 64, {}),
}


# families edgekit refuses to prune, and the message (the README support matrix lists them)
REFUSED = {"ghostnetv3": ("ghostnetv3_050", 64, r"ghostnet \(GhostModuleV3\) cannot be pruned safely.*V1"),
           "condconv": ("efficientnet_cc_b0_4e", 64, r"condconv \(CondConv2d\) cannot be pruned safely.*flattened")}


def check_family(timm_id, px, kwargs, tmp_path, ratio=0.3, shipped=False):
    model = build(timm_id, px, **kwargs)
    x = torch.randn(2, 3, px, px, generator=torch.Generator().manual_seed(0))
    changes, before, _ = prune(model, PruneConfig(ratio), x[:1])
    assert changes, "nothing was pruned"
    assert not changed_widths_not_multiple(changes, before, 8)
    with torch.no_grad():
        assert model(x).shape == (2, 10)
    rebuilt = build(timm_id, px, **kwargs)
    structure.replay(rebuilt, changes)
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert same_outputs(model, rebuilt, x)
    diff, tolerance, passed = onnx_max_diff(model, x, tmp_path, shipped)
    assert passed, (diff, tolerance)


ZOO = os.environ.get("EDGEKIT_PRUNE_ZOO") == "1"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_prunes_exports_and_replays(family, tmp_path):
    check_family(*FAMILIES[family], tmp_path)


@pytest.mark.parametrize("family", list(REFUSED))
def test_refused_family_is_one_clear_error(family):
    from edgekit.core.errors import EdgekitError

    timm_id, px, message = REFUSED[family]
    model = build(timm_id, px)
    with pytest.raises(EdgekitError, match=message):
        prune(model, PruneConfig(0.3), torch.zeros(1, 3, px, px))


def test_ghost_modules_prune_primary_and_ghosts_together():
    """A ghost module's primary conv leads its group: k primary channels out means 2k module channels out."""
    from timm.models.ghostnet import GhostModule

    model = build("ghostnet_050", 64)
    ghosts = {n: m.primary_conv[0].out_channels for n, m in model.named_modules() if isinstance(m, GhostModule)}
    prune(model, PruneConfig(0.3), torch.zeros(1, 3, 64, 64))
    modules = dict(model.named_modules())
    narrower = 0
    for name, width in ghosts.items():
        ghost = modules[name]
        primary = ghost.primary_conv[0].out_channels
        assert ghost.cheap_operation[0].out_channels == ghost.cheap_operation[0].groups == primary
        assert ghost.out_chs == 2 * primary
        assert primary == width or primary % 8 == 0, (name, width, primary)
        narrower += primary < width
    assert narrower >= len(ghosts) // 2


@pytest.mark.slow
@pytest.mark.skipif(not ZOO, reason="set EDGEKIT_PRUNE_ZOO=1 to prune every registered zoo model")
@pytest.mark.parametrize("name", [n for n, s in __import__("edgekit.models.zoo", fromlist=["MODELS"]).MODELS.items()])
def test_zoo_model_prunes(name, tmp_path):
    from edgekit.models.zoo import resolve

    spec = resolve(name)
    if spec.family in REFUSED:
        pytest.skip(f"{spec.family} is refused")
    px = 224 if spec.family == "efficientformer" else max(64, spec.img_multiple)
    check_family(spec.timm_id or name, px, {}, tmp_path, shipped=True)
