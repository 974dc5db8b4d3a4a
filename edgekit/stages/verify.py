"""The verify stage: an exported file in its own runtime against PyTorch: parity of the logits on a few images, then
the accuracy through that runtime and its top-1 agreement with PyTorch (fidelity) over the whole validation pass."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from edgekit.bench.accuracy import accuracy_of, collect, limited, pytorch_logits
from edgekit.bench.measure import fidelity, parity
from edgekit.core.errors import ResourceError, first_line
from edgekit.core.formats import FORMATS
from edgekit.core.records import Fidelity, Parity, Verification
from edgekit.core.ui import native_stderr_captured
from edgekit.data.batches import first_images
from edgekit.exporters.base import DYNAMO_FAILED
from edgekit.quant import census
from edgekit.runtimes import open_session
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register

if TYPE_CHECKING:
    from edgekit.data.base import DataBundle

log = logging.getLogger(__name__)

#: int8 files are compared with the quantized PyTorch model, which simulates integer arithmetic in float. Where float
#: ops (LayerNorm, GELU, softmax) sit between int8 tensors, a last-bit difference in float flips a rounding step and
#: propagates, so a small random-init ViT may differ by ~20% of its (tiny) logit range while all three integer
#: runtimes agree with each other exactly. A broken conversion (wrong scale, zero point or layout) is off by the
#: whole range; the accuracy through each runtime, on labelled data, is the sharper check.
INT8_PARITY_FRACTION = 0.25
#: fidelity: a top-1 flip where PyTorch's two logits lie within float noise of each other is a near-tie (relative
#: to the largest logit, plus an absolute part capped here so the int8 parity tolerance does not widen it); for an
#: int8 model whose logits are dequantized int8 values, also within one step of that grid (integer kernels and
#: PyTorch's float simulation may round a requantization differently by one step)
PARITY_RTOL = 1e-4
ABSOLUTE_TIE = 1e-3


@register
class Verify(Stage):
    name = "verify"
    may_follow = ("export",)
    reads = ("export.parity_samples", "export.parity_atol", "export.min_agreement_fp32", "export.min_agreement_int8",
             "data.eval_samples")
    record_type = Verification
    version = 2  # fidelity over the validation pass

    def libraries_for(self, node: Node) -> tuple[str, ...]:
        return ("torch", *FORMATS.get(node.target).runtime_packages)

    def describe(self, node: Node, setting: Setting) -> str:
        n = min(node.options.data.eval_samples or setting.data.n_val, setting.data.n_val)
        if not setting.data.labelled:
            return f"parity on {node.options.export.parity_samples}"
        return f"parity {node.options.export.parity_samples}, top-1+agree {n:,}"  # agreement with PyTorch

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
        threshold = options.min_agreement_int8 if artifact.precision == "int8" else options.min_agreement_fp32
        checks = Checks(images, reference, atol, threshold, model, data, node.options.data.eval_samples,
                        quantized=artifact.precision == "int8")
        result = self._verify(path, node.target, checks)
        fallback = [n for n in exported.record.notes if n.startswith(DYNAMO_FAILED)]
        if result.status == "failed" and result.parity is not None and fallback:  # the trace took one branch
            result.error = f"{result.error}; {fallback[0]}"
        if result.status == "ok" and artifact.precision == "int8":
            result.int8_census = census.census_of(path, FORMATS.get(node.target).census, model)
        metrics = {"max_abs_diff": result.parity.max_abs_diff if result.parity else None,
                   "top1": result.accuracy.top1 if result.accuracy else None,
                   "agreement": result.fidelity.agreement if result.fidelity else None, "status": result.status}
        return Output(metrics, record=result, ok=result.status == "ok")

    @staticmethod
    def _verify(path, fmt: str, checks: "Checks") -> Verification:
        try:
            with native_stderr_captured():
                session = open_session(path, threads=os.cpu_count() or 1, format_name=fmt)
            checked = Parity(**parity(session.run(checks.images), checks.reference, checks.atol))
            if not checked.passed:
                return Verification(status="failed", parity=checked, runtime_versions=session.versions(),
                                    error=f"parity failed: max |diff| {checked.max_abs_diff} > {checked.tolerance} "
                                          "or top-1 disagreement")
            accuracy, agreement = checks.validation_pass(session.run, fmt)
            result = Verification(status="ok", parity=checked, accuracy=accuracy, fidelity=agreement,
                                  runtime_versions=session.versions())
            if agreement is not None and not agreement.passed:
                result.status, result.error = "failed", _disagreement(agreement)
            return result
        except ResourceError:
            raise
        except Exception as exc:  # a runtime that cannot load or run the file fails that file, not the run
            log.debug("verification failed", exc_info=True)
            return Verification(status="failed", error=f"runtime failed: {type(exc).__name__}: {first_line(exc, 300)}")


@dataclass
class Checks:
    """What one file is checked against: PyTorch's logits on the parity images, and the validation pass."""

    images: np.ndarray
    reference: np.ndarray
    atol: float
    min_agreement: float
    model: torch.nn.Module
    data: "DataBundle"
    eval_samples: int | None
    quantized: bool = False

    def validation_pass(self, logits_fn, fmt: str) -> tuple[dict | None, Fidelity | None]:
        """Top-1 through the runtime and its agreement with PyTorch over the same images; (None, None) when the
        data has no labels. PyTorch's pass is shared with the evaluate stage and the model's other files."""
        collected = collect(logits_fn, limited(self.data.val, self.eval_samples), label=f"accuracy {fmt}")
        if collected is None:
            return None, None
        logits, labels = collected
        ours, _ = pytorch_logits(self.model, self.data.val, self.eval_samples, label="reference pytorch")
        ties = PARITY_RTOL * float(np.abs(ours).max()) + min(self.atol, ABSOLUTE_TIE)
        if self.quantized:
            ties += grid_step(ours)
        return accuracy_of(logits, labels, self.data.name), Fidelity(**fidelity(logits, ours, ties,
                                                                                 self.min_agreement))


def grid_step(logits: np.ndarray) -> float:
    """The spacing of the values `logits` take when they are dequantized integers (the smallest gap between two
    distinct values, among few distinct values); 0.0 for float logits."""
    values = np.unique(np.round(np.asarray(logits, dtype=np.float64).ravel(), 6))
    if len(values) < 2 or len(values) > min(logits.size // 4, 256):  # int8 outputs take at most 256 values
        return 0.0
    return float(np.diff(values).min())


def _disagreement(agreement: Fidelity) -> str:
    ties = f", {agreement.near_ties} near-ties excepted" if agreement.near_ties else ""
    return (f"top-1 agrees with PyTorch on {agreement.agreement}% of {agreement.n:,} validation images "
            f"({agreement.disagreements:,} differ{ties}); the minimum is {agreement.min_agreement}%")
