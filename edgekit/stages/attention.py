"""The attention stage: swap the student's softmax attention for Linformer or Performer (after pruning, before
recovery); the teacher keeps softmax attention, so recovery distils the new attention from it."""

from __future__ import annotations

import copy
import dataclasses

from edgekit.core.ui import info
from edgekit.models.attention.swap import describe as summary
from edgekit.models.attention.swap import swap_attention
from edgekit.models.build import meta_model
from edgekit.models.complexity import count_macs, count_params
from edgekit.stages.base import Context, ModelArtifact, Node, Output, Setting, register
from edgekit.stages.model_stage import ModelStage


def settings(attention) -> str:
    if attention.kind == "linformer":
        return f"k={attention.linformer_k}" if attention.linformer_k else "k=min(64, tokens)"
    return f"{attention.performer_features} random features"


@register
class SwapAttention(ModelStage):
    name = "attention"
    may_follow = ("teacher", "prune")
    reads = ("attention", "seed")
    libraries = ("torch", "timm")

    def check(self, node: Node, setting: Setting) -> None:
        """Refuse an unsupported family or a Linformer k beyond the token count before any work: the swap, tried on
        the model without weights."""
        attention = setting.recipe.attention
        swap_attention(meta_model(setting.spec, setting.num_classes, setting.img_size), attention.kind,
                       setting.img_size, projected=attention.linformer_k, features=attention.performer_features,
                       name=setting.spec.name)

    def describe(self, node: Node, setting: Setting) -> str:
        return f"{node.options.attention.kind} attention ({settings(node.options.attention)}) in place of softmax"

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        source = inputs["model"].model
        attention, img_size = node.options.attention, source.description.img_size
        model = copy.deepcopy(source.module).eval()
        params0, macs0 = count_params(model), count_macs(model, img_size)
        edit = swap_attention(model, attention.kind, img_size, projected=attention.linformer_k,
                              features=attention.performer_features, seed=node.options.seed,
                              name=source.description.model)
        params1, macs1 = count_params(model), count_macs(model, img_size)
        metrics = {**summary(edit), "params_before": params0, "params_after": params1, "macs_before": macs0,
                   "macs_after": macs1, "macs_ratio": round(macs1 / macs0, 4)}
        info(f"attention: {len(edit['layers'])} softmax attention layer(s) → {attention.kind} "
             f"({settings(attention)}); MACs {macs0 / 1e6:.1f}M → {macs1 / 1e6:.1f}M ({macs1 / macs0:.2f}x)")
        description = dataclasses.replace(source.description, edits=[*source.description.edits, edit], metrics={})
        return Output(metrics, ModelArtifact(description, module=model))
