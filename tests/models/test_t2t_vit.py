"""T2T-ViT (edgekit.models.families.t2t_vit): the paper's sizes, the soft split, training, pruning, and the whole
chain in every runtime with the tiny variant."""

import json

import pytest
import torch
import torch.nn.functional as F
from tiny_data import TINY_CHAIN_FLAGS

from edgekit.models import MODELS, resolve
from edgekit.models.build import create
from edgekit.models.complexity import count_params
from edgekit.models.families.t2t_vit import SoftSplit, T2TViT
from edgekit.models.head import classifier_modules

# params at 224 px with 1000 classes: the paper's Table 2 (T2T-ViT-t-14 is 21.5M), and what this implementation has
PAPER_PARAMS = {"t2t_vit_7": 4.3e6, "t2t_vit_12": 6.9e6, "t2t_vit_14": 21.5e6}


@pytest.mark.parametrize("name", list(PAPER_PARAMS))
def test_paper_configs_have_the_papers_sizes(name):
    spec = resolve(name)
    assert spec.family == "t2t-vit" and spec.img_multiple == 16 and spec.plugin and "2101.11986" in spec.notes
    with torch.device("meta"):
        model = create(spec, 1000, 224)
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    assert model.pos_embed.shape[1] == 14 * 14 + 1  # 1/16 resolution, plus the class token
    assert count_params(model) == pytest.approx(PAPER_PARAMS[name], rel=0.02)


def test_the_soft_split_is_unfold():
    x = torch.randn(2, 5, 20, 20)
    for kernel, stride, padding in ((7, 4, 2), (3, 2, 1)):
        split = SoftSplit(5, kernel, stride, padding)
        expected = F.unfold(x, kernel, padding=padding, stride=stride).transpose(1, 2)
        torch.testing.assert_close(split(x), expected, rtol=0, atol=1e-6)
        assert not split.proj.weight.requires_grad


def test_tiny_variant_is_registered_with_timm_style_api():
    assert {"t2t_vit_7", "t2t_vit_12", "t2t_vit_14", "test_t2t_vit"} <= set(MODELS.names())
    model = create(resolve("test_t2t_vit"), 10, 32)
    assert isinstance(model, T2TViT) and not model.training
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert classifier_modules(model) == [model.head]
    assert model.no_weight_decay() == {"pos_embed", "cls_token"}
    assert model.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 2 * 2 + 1, 64)
    model.reset_classifier(3)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)


def test_it_trains_and_the_soft_splits_stay_fixed():
    torch.manual_seed(0)
    model = create(resolve("test_t2t_vit"), 4, 32, drop_path=0.1).train()
    splits = [m.proj.weight.clone() for m in model.modules() if isinstance(m, SoftSplit)]
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 4
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(12):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert all(torch.equal(m.proj.weight, w) for m, w in zip((m for m in model.modules() if isinstance(m, SoftSplit)),
                                                              splits))


def test_pruning_narrows_heads_and_mlps_and_keeps_the_token_width():
    from edgekit.pruning import PruneConfig, prune

    model = create(resolve("test_t2t_vit"), 10, 32)
    t2t = model.tokens_to_token
    widths = (t2t.token0.attn.qkv.out_features, t2t.token1.attn.qkv.out_features)
    x = torch.randn(2, 3, 32, 32)
    changes, _, plan = prune(model, PruneConfig(0.3), x[:1])
    assert changes and "tokens_to_token" in plan.kept_attention
    attn = model.blocks[0].attn
    assert attn.num_heads == 2 and attn.head_dim < 32 and attn.qkv.out_features == 3 * 2 * attn.head_dim
    assert model.blocks[0].mlp.fc1.out_features < 128 and model.cls_token.shape[-1] < 64  # MLP and stream pruned
    assert (t2t.token0.attn.qkv.out_features, t2t.token1.attn.qkv.out_features) == widths
    assert t2t.token0.mlp.fc1.out_features < 32  # the token MLPs' hidden width is pruned
    with torch.no_grad():
        assert model(x).shape == (2, 10)


def test_compress_prunes_quantizes_and_verifies_in_litert(cli_fast, tmp_path):
    """One format per family keeps CI short (the SkipNet and DynamicConv tests take ONNX); every format of every
    family: benchmarks/int8_matrix.py and benchmarks/families_fmnist.py."""
    out = tmp_path / "run"
    result = cli_fast("compress", "test_t2t_vit", *TINY_CHAIN_FLAGS, "--int8", "--formats", "tflite",
                      "--qat-epochs", "0.25", "--calib-samples", "64", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "test_t2t_vit" and report["source"] == "edgekit.models.families.t2t_vit"
    names = [s["name"] for s in report["stages"]]
    assert names.index("teacher") < names.index("prune") < names.index("kd") < names.index("int8")
    assert report["ok"], [a.get("error") for a in report["artifacts"]]
    assert [a["format"] for a in report["artifacts"]] == ["tflite"]
    for artifact, baseline in zip(report["artifacts"], report["baseline"]):
        assert artifact["precision"] == "int8" and artifact["status"] == "ok" and artifact["parity"]["passed"]
        assert baseline["precision"] == "fp32" and baseline["parity"]["passed"]
        assert artifact["params"] < baseline["params"]  # pruned
    assert json.loads((out / "model" / "model.json").read_text())["edits"]  # the pruned widths, replayed on rebuild
    assert "from edgekit's model family `t2t_vit`" in (out / "report.md").read_text()
