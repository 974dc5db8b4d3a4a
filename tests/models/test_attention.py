"""Efficient attention (edgekit.models.attention): the swap keeps shapes and weights, Linformer at k = tokens is
softmax attention, Performer's FAVOR+ estimates it, exported files match PyTorch, bad input is refused."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from timm.layers import Attention

from edgekit.core.errors import EdgekitError
from edgekit.models import resolve
from edgekit.models.attention import LinformerAttention, PerformerAttention, swap_attention
from edgekit.models.attention.linformer import pooling_matrix
from edgekit.models.build import create

PX = 32


def tiny(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create(resolve(name), 10, PX)


@pytest.mark.parametrize("kind", ["linformer", "performer"])
def test_the_swap_replaces_every_block_attention_and_keeps_weights_and_heads(kind):
    model = tiny("test_t2t_vit")
    before = {n: m for n, m in model.named_modules() if type(m).__name__ in ("Attention", "TokenAttention")}
    weights = {n: m.qkv.weight.clone() for n, m in before.items()}
    edit = swap_attention(model, kind, PX, projected=3, features=16)
    cls = LinformerAttention if kind == "linformer" else PerformerAttention
    assert set(edit["layers"]) == set(before) == {"tokens_to_token.token0.attn", "tokens_to_token.token1.attn",
                                                  "blocks.0.attn", "blocks.1.attn"}
    for name, old in before.items():
        new = model.get_submodule(name)
        assert isinstance(new, cls) and new.attn_dim * 3 == old.qkv.out_features
        assert (new.num_heads, new.head_dim) == (getattr(old, "num_heads", 1), getattr(old, "head_dim", 32))
        assert torch.equal(new.qkv.weight, weights[name]) and new.proj is old.proj
    token = model.tokens_to_token.token0.attn  # one head, 3 * 3 * 3 input channels to 32, the residual is v
    assert (token.num_heads, token.head_dim, token.value_residual) == (1, 32, True)
    if kind == "linformer":
        assert edit["layers"]["blocks.0.attn"] == {"tokens": 5, "projected": 3}  # 2x2 patches + class token
        assert edit["layers"]["tokens_to_token.token0.attn"] == {"tokens": 64, "projected": 3}  # 8x8 soft split
        assert model.blocks[0].attn.key_proj.shape == (3, 5)
    else:
        assert model.blocks[0].attn.projection.shape == (16, 32)
        assert not torch.equal(model.blocks[0].attn.projection, model.blocks[1].attn.projection)  # seeds differ
    with torch.no_grad():
        assert model(torch.randn(2, 3, PX, PX)).shape == (2, 10)


def test_linformer_with_identity_projections_at_k_equal_tokens_is_softmax_attention():
    torch.manual_seed(0)
    source = Attention(32, 4).eval()
    x = torch.randn(2, 9, 32)
    expected = source(x)
    linformer = LinformerAttention(copy.deepcopy(source), tokens=9, projected=9)
    assert torch.equal(linformer.key_proj, torch.eye(9))  # the pooling start at k = tokens is the identity
    torch.testing.assert_close(linformer(x), expected, rtol=0, atol=1e-6)
    shorter = LinformerAttention(copy.deepcopy(source), tokens=9, projected=3)
    assert (shorter(x) - expected).abs().max() > 1e-3  # projected to 3 rows it is another function
    torch.testing.assert_close(pooling_matrix(3, 9).sum(1), torch.ones(3))  # each row a mean
    from edgekit.models.families.t2t_vit import TokenAttention

    token = TokenAttention(27, 16).eval()
    x = torch.randn(2, 9, 27)
    torch.testing.assert_close(LinformerAttention(copy.deepcopy(token), 9, 9)(x), token(x), rtol=0, atol=1e-6)


def test_performer_estimates_softmax_attention_and_a_wrong_kernel_would_not():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 16, 16) * 0.5, torch.randn(1, 2, 16, 16) * 0.5, torch.randn(1, 2, 16, 16)
    expected = F.scaled_dot_product_attention(q, k, v)
    error = lambda out: (out - expected).abs().mean().item()  # noqa: E731
    performer = PerformerAttention(Attention(32, 2), features=8192, seed=1)
    close = error(performer.attend(q, k, v))
    assert close < 0.02
    relu_q, relu_k = q.relu(), k.relu()  # a linear-attention kernel that is not softmax's
    relu = (relu_q @ (relu_k.transpose(-2, -1) @ v)) / (relu_q @ relu_k.sum(-2, keepdim=True).transpose(-2, -1))
    unscaled = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # softmax without the 1/sqrt(d)
    uniform = v.mean(-2, keepdim=True).expand_as(v)
    assert min(error(relu), error(unscaled), error(uniform)) > 3 * close
    few = PerformerAttention(Attention(32, 2), features=64, seed=1)
    assert error(few.attend(q, k, v)) > close  # more features, a closer estimate


@pytest.mark.parametrize(("name", "kind"), [("test_vit", "linformer"), ("test_t2t_vit", "performer")])
def test_a_swapped_model_exports_to_onnx_with_parity(name, kind, tmp_path):
    from edgekit.exporters import export
    from edgekit.runtimes.base import open_session

    model = tiny(name)
    swap_attention(model, kind, PX, projected=3, features=32)
    x = torch.randn(2, 3, PX, PX)
    path = export("onnx", model, x[:1], tmp_path / f"{name}.onnx").path
    session = open_session(path, threads=1)
    with torch.no_grad():
        expected = model(x).numpy()
    assert abs(session.run(x.numpy()) - expected).max() < 1e-4


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(EdgekitError, match="applies to ViT/DeiT .* and T2T-ViT models; the model is a EfficientNet"):
        swap_attention(tiny("test_effnet"), "performer", PX)
    model = tiny("test_vit")
    with pytest.raises(EdgekitError, match=r"--linformer-k 6: the model has 5 tokens at 32 px, so k must be in \[1, 5\]"):
        swap_attention(model, "linformer", PX, projected=6)
    with pytest.raises(EdgekitError, match="--performer-features must be at least 1"):
        swap_attention(model, "performer", PX, features=0)
    swap_attention(model, "performer", PX)
    with pytest.raises(EdgekitError, match="already has efficient attention"):
        swap_attention(model, "linformer", PX)


def test_pruning_a_swapped_model_is_refused_and_pruning_first_then_swapping_works():
    from edgekit.pruning import PruneConfig, prune

    x = torch.randn(1, 3, PX, PX)
    swapped = tiny("test_vit")
    swap_attention(swapped, "linformer", PX, projected=3)
    with pytest.raises(EdgekitError, match="prune the softmax model, then swap"):
        prune(swapped, PruneConfig(0.3), x)
    model = tiny("test_vit")
    prune(model, PruneConfig(0.3), x)
    head_dim = model.blocks[0].attn.head_dim
    assert head_dim < 32
    swap_attention(model, "performer", PX, features=16)
    assert model.blocks[0].attn.projection.shape == (16, head_dim)
    with torch.no_grad():
        assert model(x).shape == (1, 10)


def test_compress_prunes_swaps_distils_and_verifies(cli, tmp_path):
    """The chain in one format (the .tflite and .pte exports of a swapped model take a minute here:
    benchmarks/attention.py verifies all three)."""
    out = tmp_path / "run"
    result = cli("compress", "test_vit", "--data", "fashion-mnist", "--subset", "256", "--img-size", "32",
                 "--epochs", "1", "--prune", "0.3", "--attention", "performer", "--performer-features", "16",
                 "--formats", "onnx", "--eval-samples", "64", "--parity-samples", "8", "--no-bench",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    names = [s["name"] for s in report["stages"]]
    assert names.index("teacher") < names.index("prune") < names.index("attention") < names.index("kd")
    assert report["attention"] == {"attention": "performer", "teacher": "softmax", "layers": 6, "features": 16}
    [artifact], [baseline] = report["artifacts"], report["baseline"]
    assert report["ok"] and artifact["status"] == "ok" and artifact["parity"]["passed"]
    assert artifact["params"] < baseline["params"]  # pruned
    edits = json.loads((out / "model" / "model.json").read_text())["edits"]
    assert [e["kind"] for e in edits] == ["prune", "attention"]  # replayed in this order on rebuild
    assert "- attention: **performer** (16 random features) in 6 layer(s)" in (out / "report.md").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (("test_effnet", "--attention", "performer"), "applies to ViT/DeiT (timm VisionTransformer) and T2T-ViT models; "
                                                  "test_effnet is a EfficientNet"),
    (("test_vit", "--linformer-k", "8"), "--linformer-k sets linformer attention: add --attention linformer"),
    (("test_vit", "--attention", "performer", "--linformer-k", "8"), "add --attention linformer"),
    (("test_vit", "--attention", "bigbird"), "'bigbird' is not one of"),
    (("test_vit", "--img-size", "32", "--attention", "linformer", "--linformer-k", "9"),
     "--linformer-k 9: test_vit has 5 tokens at 32 px, so k must be in [1, 5]"),
])
def test_compress_refuses_bad_attention_options_in_one_line(cli_fast, tmp_path, args, message):
    result = cli_fast("compress", *args, "--data", "synthetic", "--formats", "onnx", "--out", str(tmp_path / "r"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_macs_count_the_fused_attention_kernel():
    from edgekit.models.complexity import count_macs

    model = tiny("test_vit")
    fused = count_macs(model, PX)
    for block in model.blocks:
        block.attn.fused_attn = False  # softmax(q k^T) v as explicit matmuls, which the counter always saw
    assert count_macs(model, PX) == fused
