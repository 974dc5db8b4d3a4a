"""Shared helpers for the pruning tests: tiny models and the checks every pruned model must pass."""

from __future__ import annotations

import numpy as np
import timm
import torch

from edgekit.models import structure


def build(timm_id: str, px: int, **kwargs) -> torch.nn.Module:
    """A timm architecture, or (no such timm name) a model of edgekit's own families (edgekit.models.families)."""
    torch.manual_seed(0)
    if not timm.is_model(timm_id):
        from edgekit.models.build import create
        from edgekit.models.zoo import resolve

        return randomise_norms(create(resolve(timm_id), 10, px, **kwargs)).eval()
    try:
        model = timm.create_model(timm_id, num_classes=10, img_size=px, **kwargs)
    except TypeError:
        model = timm.create_model(timm_id, num_classes=10, **kwargs)
    return randomise_norms(model).eval()


def randomise_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial norm statistics and layer scales, so that a wrong channel mapping changes the outputs."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
        for name, p in model.named_parameters():
            if name.endswith(("gamma", "gamma_xca")) or ".ls" in name:
                p.data.copy_(torch.rand(p.shape, generator=g) + 0.5)
    return model


def changed_widths_not_multiple(changes: dict, before: dict, round_to: int) -> list:
    return [(r["layer"], r["after"]) for r in structure.widths(changes, before)
            if r["after"] != r["before"] and r["after"] % round_to]


def onnx_max_diff(model: torch.nn.Module, x: torch.Tensor, tmp_path, shipped: bool = False):
    """(max |onnxruntime - PyTorch|, tolerance, passed) on `x`: edgekit's parity rule. `shipped` uses edgekit's
    own exporter (dynamo, ~5-15 s); otherwise torch's TorchScript exporter (~2 s) checks the pruned graph."""
    from edgekit.bench.measure import parity
    from edgekit.exporters import export
    from edgekit.runtimes import open_session

    path = tmp_path / "m.onnx"
    if shipped:
        export("onnx", model.eval(), x[:1], path)
    else:
        torch.onnx.export(model.eval(), (x[:1],), str(path), dynamo=False, opset_version=18, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
    with torch.no_grad():
        ref = model(x).numpy()
    result = parity(open_session(path, threads=1).run(x.numpy()), ref, atol=1e-3)
    return result["max_abs_diff"], result["tolerance"], result["passed"]


def same_outputs(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> bool:
    with torch.no_grad():
        return bool(np.array_equal(a.eval()(x).numpy(), b.eval()(x).numpy()))
