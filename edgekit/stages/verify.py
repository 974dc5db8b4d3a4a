"""The verify stage: an exported file in its own runtime against PyTorch, and its accuracy through that runtime."""

from __future__ import annotations

import logging
import os

import torch

from edgekit.bench.accuracy import evaluate, limited
from edgekit.bench.measure import parity
from edgekit.core.errors import ResourceError, first_line
from edgekit.core.formats import FORMATS
from edgekit.core.records import Parity, Verification
from edgekit.core.ui import native_stderr_captured
from edgekit.data.batches import first_images
from edgekit.exporters.base import DYNAMO_FAILED
from edgekit.quant import census
from edgekit.runtimes import open_session
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register

log = logging.getLogger(__name__)

#: int8 files are compared with the quantized PyTorch model, which simulates integer arithmetic in float. Where float
#: ops (LayerNorm, GELU, softmax) sit between int8 tensors, a last-bit difference in float flips a rounding step and
#: propagates, so a small random-init ViT may differ by ~20% of its (tiny) logit range while all three integer
#: runtimes agree with each other exactly. A broken conversion (wrong scale, zero point or layout) is off by the
#: whole range; the accuracy through each runtime, on labelled data, is the sharper check.
INT8_PARITY_FRACTION = 0.25


@register
class Verify(Stage):
    name = "verify"
    may_follow = ("export",)
    reads = ("export.parity_samples", "export.parity_atol", "data.eval_samples")
    record_type = Verification

    def libraries_for(self, node: Node) -> tuple[str, ...]:
        return ("torch", *FORMATS.get(node.target).runtime_packages)

    def describe(self, node: Node, setting: Setting) -> str:
        n = min(node.options.data.eval_samples or setting.data.n_val, setting.data.n_val)
        accuracy = f" + top-1 on {n:,}" if setting.data.labelled else ""
        return f"parity on {node.options.export.parity_samples}{accuracy}"

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        n = min(node.options.data.eval_samples or setting.data.n_val, setting.data.n_val) \
            if setting.data.labelled else 0
        return probe.inference_seconds(n + node.options.export.parity_samples, runtime=node.target)

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        artifact, exported = inputs["model"].model, inputs["file"]
        path = exported.folder / exported.record.file
        data, options = ctx.data, node.options.export
        images = first_images(data.val, options.parity_samples)
        model = artifact.module
        with torch.inference_mode():
            reference = model(torch.from_numpy(images)).float().numpy()
        atol = options.parity_atol
        if artifact.precision == "int8":
            atol = max(atol, INT8_PARITY_FRACTION * float(reference.max() - reference.min()))
        result = self._verify(path, node.target, images, reference, atol, data, node.options.data.eval_samples)
        fallback = [n for n in exported.record.notes if n.startswith(DYNAMO_FAILED)]
        if result.status == "failed" and result.parity is not None and fallback:  # the trace took one branch
            result.error = f"{result.error}; {fallback[0]}"
        if result.status == "ok" and artifact.precision == "int8":
            result.int8_census = census.census_of(path, FORMATS.get(node.target).census, model)
        metrics = {"max_abs_diff": result.parity.max_abs_diff if result.parity else None,
                   "top1": result.accuracy.top1 if result.accuracy else None, "status": result.status}
        return Output(metrics, record=result, ok=result.status == "ok")

    @staticmethod
    def _verify(path, fmt: str, images, reference, atol: float, data, eval_samples) -> Verification:
        try:
            with native_stderr_captured():
                session = open_session(path, threads=os.cpu_count() or 1, format_name=fmt)
            checked = Parity(**parity(session.run(images), reference, atol))
            if not checked.passed:
                return Verification(status="failed", parity=checked, runtime_versions=session.versions(),
                                    error=f"parity failed: max |diff| {checked.max_abs_diff} > {checked.tolerance} "
                                          "or top-1 disagreement")
            accuracy = evaluate(session.run, limited(data.val, eval_samples), data.name, label=f"accuracy {fmt}")
            return Verification(status="ok", parity=checked, accuracy=accuracy, runtime_versions=session.versions())
        except ResourceError:
            raise
        except Exception as exc:  # a runtime that cannot load or run the file fails that file, not the run
            log.debug("verification failed", exc_info=True)
            return Verification(status="failed", error=f"runtime failed: {type(exc).__name__}: {first_line(exc, 300)}")
