"""The export stage: one model written in one format (one node per format of --formats)."""

from __future__ import annotations

import functools
import importlib
import logging
import time

import torch

from edgekit.core.errors import EXIT_USAGE, EdgekitError, ResourceError, first_line
from edgekit.core.formats import FORMATS
from edgekit.core.io import sha256_file
from edgekit.core.records import ExportedFile
from edgekit.core.ui import info, native_stderr_captured
from edgekit.data.batches import first_images
from edgekit.exporters import export
from edgekit.exporters.refusals import REFUSED_FORMATS, export_refusal
from edgekit.models.build import meta_model
from edgekit.models.complexity import count_macs, count_params
from edgekit.models.control_flow import REALISED, control_flow_name
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register

log = logging.getLogger(__name__)


@register
class Export(Stage):
    name = "export"
    may_follow = ("teacher", "prune", "attention", "kd", "finetune", "int8")
    record_type = ExportedFile

    def reads_for(self, setting: Setting, node: Node) -> tuple[str, ...]:
        return tuple(FORMATS.get(node.target).exporter_options.values())

    def libraries_for(self, node: Node) -> tuple[str, ...]:
        return FORMATS.get(node.target).export_packages

    def identity(self, node: Node, setting: Setting) -> dict:
        if node.inputs["model"].stage.name != "int8":  # the host's defaults shape how int8 graphs are written
            return {}
        return {"host_defaults": _host_defaults(FORMATS.get(node.target))}

    def check(self, node: Node, setting: Setting) -> None:
        FORMATS.get(node.target).check_installed()
        reason = export_refusal(_meta_model(setting.spec, setting.num_classes, setting.img_size), node.target) \
            if node.target in REFUSED_FORMATS else None
        if reason:
            raise EdgekitError(reason)

    def describe(self, node: Node, setting: Setting) -> str:
        return FORMATS.get(node.target).suffix

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        return probe.export_seconds(node.target, int8=node.inputs["model"].stage.name == "int8")

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        artifact = inputs["model"].model
        spec = FORMATS.get(node.target)
        counted = artifact.float_module
        size = {"precision": artifact.precision, "params": count_params(counted),
                "macs": count_macs(counted, artifact.description.img_size)}
        path = ctx.workdir / f"{ctx.stem}{spec.suffix}"
        example = torch.from_numpy(first_images(ctx.data.val, 1))
        options = {keyword: _option(node.options, option) for keyword, option in spec.exporter_options.items()}
        options.update({keyword: value for keyword, value in _host_defaults(spec).items()
                        if options.get(keyword) == "auto"})
        start = time.perf_counter()
        info(f"export: {spec.name} → {path.name}" + (" (baseline)" if node.role == "baseline" else ""))
        try:
            with native_stderr_captured():
                result = export(spec, artifact.module, example, path, **options)
        except ResourceError:
            raise  # a full disk or memory stops the run: no later step could go on
        except EdgekitError as exc:
            if exc.exit_code != EXIT_USAGE:
                raise  # a converter crash stops the run; a model the format cannot take fails this file
            return _failed(exc, size)
        except Exception as exc:  # a format that cannot take the model is reported, the others still ship
            return _failed(exc, size)
        what = control_flow_name(counted) if artifact.module is not counted else None
        if what is not None:  # an int8 graph: PT2E captured the model in its default, dense form
            result.notes.append(f"{what} not{REALISED}the int8 {spec.name} file: quantization captured the dense "
                                "form (every branch, selected per input)")
        record = ExportedFile(format=spec.name, file=path.name, size_bytes=path.stat().st_size,
                              sha256=sha256_file(path), runtime=spec.runtime, op_counts=result.op_counts,
                              fallback_ops=result.fallback_ops, notes=result.notes,
                              export_seconds=round(time.perf_counter() - start, 2), **size)
        return Output({"size_bytes": record.size_bytes}, record=record)


@functools.lru_cache(maxsize=4)
def _meta_model(spec, num_classes: int, img_size: int) -> torch.nn.Module:
    """The model's layers without weights, for the formats' refusals (one build for every export node); an empty
    module when it cannot be built so (the export itself then tells)."""
    try:
        return meta_model(spec, num_classes, img_size)
    except Exception:  # noqa: BLE001 - a refusal check must not be the one that fails
        log.debug("no meta model for the export refusals", exc_info=True)
        return torch.nn.Module()


def _failed(exc: Exception, size: dict) -> Output:
    """The file's error: the exporter's own line (it names the format and what could not be traced), else the
    exception's type and first line."""
    log.debug("export failed", exc_info=True)
    reason = first_line(exc, 400) if isinstance(exc, EdgekitError) else f"{type(exc).__name__}: {first_line(exc, 300)}"
    return Output({"error": f"export failed: {reason}", **size}, ok=False)


def _host_defaults(spec) -> dict:
    """The format's `host_defaults` hook called: what its options' 'auto' means on this host ({} without one)."""
    if not spec.host_defaults:
        return {}
    module_name, func_name = spec.host_defaults.split(":")
    return getattr(importlib.import_module(module_name), func_name)()


def _option(options, path: str):
    """The picked option at a dotted path ('export.tflite_io')."""
    for part in path.split("."):
        options = getattr(options, part)
    return options
