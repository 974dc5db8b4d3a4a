"""The gate stage: size, latency and accuracy budgets checked on the finished report (the CI exit code)."""

from __future__ import annotations

from edgekit.bench.budget import ACCURACY_LIMITS, LATENCY_LIMITS, REFERENCE_LIMITS, load_budgets
from edgekit.bench.gate import gate_run
from edgekit.core.errors import EdgekitError
from edgekit.devices import open_device
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register


@register
class Gate(Stage):
    """Reads the report the pipeline assembled from every other stage (its one input); never cached."""

    name = "gate"
    may_follow = ("bench", "verify")
    reads = ("budget",)
    cacheable = False

    def check(self, node: Node, setting: Setting) -> None:
        """The budget file loads, and what the limits of the budgets matching this run's files need is in the plan
        (timings, labelled data, a reference run)."""
        path = setting.recipe.budget.file
        precision = "int8" if setting.recipe.int8.enabled else "fp32"
        device = open_device(setting.recipe.bench.device, setting.recipe.bench.devices).label  # as reports name it
        files = [{"model": setting.spec.name, "format": spec.name, "precision": precision, "device": device}
                 for spec in setting.formats]
        limits = {key for budget in load_budgets(path).budgets if any(budget.match.matches(f) for f in files)
                  for key in budget.limits()}
        reference = [key for key in REFERENCE_LIMITS if key in limits]
        if reference and setting.reference is None:
            raise EdgekitError(f"--budget '{path}' limits {', '.join(reference)} against a reference run, but no "
                               "--reference RUN_DIR is given to compare with")
        latency = sorted(limits & set(LATENCY_LIMITS))
        if latency and not setting.recipe.bench.enabled:
            raise EdgekitError(f"--budget '{path}' limits latency ({', '.join(latency)}) but --no-bench leaves "
                               "nothing timed; drop --no-bench")
        accuracy = sorted(limits & set(ACCURACY_LIMITS))
        if accuracy and not setting.data.labelled:
            raise EdgekitError(f"--budget '{path}' limits accuracy ({', '.join(accuracy)}) but --data "
                               f"{setting.data.name} has no labels to measure it on")

    def describe(self, node: Node, setting: Setting) -> str:
        return str(node.options.budget.file)

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        return 0.0

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        gate = gate_run(inputs["report"].record, node.options.budget.file, ctx.workdir)
        return Output({"verdict": gate["verdict"]}, record=gate)
