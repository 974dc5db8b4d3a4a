"""Sensitivity analysis: prune each layer group alone at a few ratios and measure what it costs.

The cost is the top-1 drop in points on labelled data, or the output distortion (relative L2 distance of the
logits) without labels. Groups are pruned in place and put back between trials, so the dependency graph is built
once.
"""

from __future__ import annotations

import warnings

import torch

from edgekit.bench.accuracy import topk_correct
from edgekit.core.ui import progress
from edgekit.pruning.engine import PruneConfig, make_pruner


def _save(model: torch.nn.Module, dg) -> dict:
    """Every module's tensors and attributes, and the graph's parameter bookkeeping (pruning swaps parameters)."""
    graph = (dict(dg._param_to_name), dict(dg.module2node), [(node, node.module) for node in dg.module2node.values()])
    return {"graph": graph, **{name: (dict(m._parameters), dict(m._buffers), {k: v for k, v in vars(m).items()
                                                            if not k.startswith("_") and not isinstance(v, torch.nn.Module)})
            for name, m in model.named_modules()}}


def _restore(model: torch.nn.Module, dg, saved: dict) -> None:
    param_to_name, module2node, nodes = saved["graph"]
    dg._param_to_name.clear()
    dg._param_to_name.update(param_to_name)
    dg.module2node.clear()
    dg.module2node.update(module2node)
    for node, module in nodes:
        node.module = module
    for name, m in model.named_modules():
        params, buffers, attrs = saved[name]
        m._parameters.clear()
        m._parameters.update(params)
        m._buffers.clear()
        m._buffers.update(buffers)
        for key, value in attrs.items():
            setattr(m, key, value)


def _cost(model, images, labels, reference) -> float:
    with torch.no_grad():
        logits = model.eval()(images)
    if labels is not None:
        lost = topk_correct(reference, labels, ks=(1,))[0] - topk_correct(logits, labels, ks=(1,))[0]
        return round(100 * lost / len(labels), 3)
    return round(((logits - reference).norm() / reference.norm().clamp_min(1e-12)).item(), 5)


def analyze(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None, ratios: list[float],
            round_to: int = 8, ignore: list[str] | None = None) -> dict:
    """Per prunable group: root layer, channels, and the cost at each ratio (None where the group cannot shrink)."""
    model.eval()
    plan = make_pruner(model, PruneConfig(ratio=0.0, round_to=round_to, ignore=list(ignore or [])), images[:1])
    pruner, dg = plan.pruner, plan.pruner.DG
    names = {m: n for n, m in model.named_modules()}
    with torch.no_grad():
        reference = model(images)
    saved = _save(model, dg)
    groups = [g for g in dg.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types)
              if not pruner._is_atten_group(g)[0] and pruner._get_channel_groups(g) == 1]
    rows = []
    with progress() as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = bar.add_task("sensitivity", total=len(groups) * len(ratios), status="")
        for group in groups:
            root = group[0][0].target.module
            channels = dg.get_out_channels(root)
            imp = pruner.estimate_importance(group)
            row = {"group": names.get(root, type(root).__name__), "channels": channels, "cost": {}}
            for ratio in ratios:
                keep = int(channels * (1 - ratio))
                keep -= keep % round_to if keep >= round_to else 0
                if imp is None or keep <= 0 or keep >= channels:
                    row["cost"][str(ratio)] = None
                else:
                    idxs = torch.argsort(imp)[:channels - keep].tolist()
                    dg.get_pruning_group(root, group[0][0].handler, idxs).prune()
                    row["cost"][str(ratio)] = _cost(model, images, labels, reference)
                    _restore(model, dg, saved)
                bar.update(task, advance=1, status=row["group"])
            rows.append(row)
    return {"metric": "top1_drop_points" if labels is not None else "output_distortion", "ratios": ratios,
            "round_to": round_to, "ignored": plan.ignored, "groups": rows}


def plot(result: dict, path, title: str):
    """Cost per group (x) for each ratio (one line each)."""
    from edgekit.bench.plots import plt

    groups = result["groups"]
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(groups)), 4), dpi=120)
    for ratio in result["ratios"]:
        ys = [g["cost"][str(ratio)] for g in groups]
        ax.plot(range(len(groups)), [float("nan") if y is None else y for y in ys], marker="o", ms=3, label=f"ratio {ratio}")
    ax.set_xticks(range(len(groups)), [g["group"] for g in groups], rotation=90, fontsize=6)
    ax.set_ylabel("top-1 drop (points)" if result["metric"] == "top1_drop_points" else "output distortion (rel. L2)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
