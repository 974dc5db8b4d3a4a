"""The evaluate stage: top-1/top-5 of a PyTorch model (the teacher, the compressed model) on the validation split."""

from __future__ import annotations

from edgekit.bench.accuracy import accuracy_of, pytorch_logits
from edgekit.core.ui import info
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register


@register
class Evaluate(Stage):
    name = "evaluate"
    may_follow = ("teacher", "prune", "attention", "kd", "finetune", "int8")
    reads = ("data.eval_samples",)

    def describe(self, node: Node, setting: Setting) -> str:
        n = node.options.data.eval_samples or setting.data.n_val
        return f"PyTorch top-1 on {min(n, setting.data.n_val):,} images"

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        n = min(node.options.data.eval_samples or setting.data.n_val, setting.data.n_val)
        return probe.inference_seconds(n, int8=node.inputs["model"].stage.name == "int8")

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        data = ctx.data
        model = inputs["model"].model
        label = "accuracy pytorch" + (" (compressed)" if node.role != "baseline" else "")
        collected = pytorch_logits(model.module, data.val, node.options.data.eval_samples, label=label)
        accuracy = None if collected is None else accuracy_of(*collected, data.name)
        if accuracy is not None:
            info(f"evaluate: PyTorch {model.precision.upper()} top-1 {accuracy['top1']:.2f}% on {accuracy['n']} "
                 f"{data.name} images")
        return Output({"accuracy": accuracy})
