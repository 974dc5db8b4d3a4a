"""The bench stage: cold start in a child process, then latency in the file's own runtime.

With a baseline (the uncompressed FP32 model in the same format) and/or a reference (the file of the same format
of an earlier run, `compress --reference RUN_DIR`) all files are timed interleaved in A B C / C B A rounds, so
machine drift hits all alike and the gate's ratio tests compare like with like. The host's CPU, flags and
core count key the cache: a result measured on one machine is never reused on another.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgekit.bench.accuracy import limited, stacked
from edgekit.bench.compare import on_device_accuracy, remote_eval_samples
from edgekit.bench.cpus import parse_cpus
from edgekit.bench.measure import device_latency
from edgekit.core.errors import ResourceError, first_line
from edgekit.core.formats import FORMATS
from edgekit.core.records import BenchResult, Latency, Timing
from edgekit.core.ui import info
from edgekit.devices import Device, DeviceLost, TimingRequest, open_device
from edgekit.devices.config import cpu_list
from edgekit.stages.base import Context, Node, Output, Setting, Stage, register
from edgekit.stages.reference import reference_path

log = logging.getLogger(__name__)

#: seconds a child process takes to import a runtime, load a file and run it a few times
COLD_START_SECONDS = 3.0


def _device(bench) -> Device:
    """The device the bench options name (resolved, not connected)."""
    return open_device(bench.device, bench.devices)


def _path(outputs: dict[str, Output], name: str) -> Path | None:
    """The exported file of input `name` when it exists and was verified."""
    exported, checked = outputs.get(f"{name}file"), outputs.get(f"{name}check")
    if exported is None or not exported.ok or checked is None or not checked.ok:
        return None
    return exported.folder / exported.record.file


@register
class Bench(Stage):
    name = "bench"
    may_follow = ("verify",)
    reads = ("bench",)
    record_type = BenchResult
    accepts_failed_inputs = True  # a baseline whose candidate failed is still timed, alone

    def libraries_for(self, node: Node) -> tuple[str, ...]:
        return FORMATS.get(node.target).runtime_packages

    def identity(self, node: Node, setting: Setting) -> dict:
        bench = node.options.bench
        device = _device(bench)
        remote = {"data": setting.data.fingerprint, "eval_samples": setting.recipe.data.eval_samples}
        return {**device.identity(), **(remote if device.kind != "local" else {})}

    def check(self, node: Node, setting: Setting) -> None:
        bench = setting.recipe.bench
        device = _device(bench)
        if bench.cpus and device.kind == "local":
            parse_cpus(bench.cpus)
        device.check_formats([node.target])

    def describe(self, node: Node, setting: Setting) -> str:
        bench = node.options.bench
        partners = _partners(node)
        pair = f", interleaved with {' and '.join(partners)}" if partners else ""
        where = f" on {bench.device}" if bench.device != "local" else ""
        return f"{bench.runs} runs, {bench.threads} thread(s){pair}{where}"

    def estimate(self, node: Node, setting: Setting, probe_speed) -> float | None:
        bench = node.options.bench
        files = 1 + len(_partners(node))
        runs = files * (bench.warmup + bench.runs)
        return files * COLD_START_SECONDS + max(probe_speed.inference_seconds(runs, single=True),
                                                files * (bench.warmup_seconds + bench.min_seconds))

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        bench = node.options.bench
        files = {"candidate": _path(inputs, ""), "baseline": _path(inputs, "baseline_"),
                 "reference": reference_path(inputs.get("reference"))}
        if files["candidate"] is None:  # a reference is timed to compare with this run's file: not without it
            files["reference"] = None
        files = {role: path for role, path in files.items() if path is not None}
        if not files:
            return Output({"skipped": "no verified file to time"}, ok=False)
        device = _device(bench)
        images = labels = None
        if device.kind != "local" and ctx.setting.data.labelled and "candidate" in files:
            count = remote_eval_samples(ctx.setting.img_size, ctx.setting.recipe.data.eval_samples)
            images, labels = stacked(limited(ctx.data.val, count))
        try:
            result = measure(files, node.target, bench, device, images, labels, ctx.setting.data.name)
        except (ResourceError, DeviceLost):
            raise
        except Exception as exc:  # a runtime that cannot time the file fails that file, not the run
            log.debug("benchmark failed", exc_info=True)
            result = BenchResult(status="failed", error=f"benchmark failed: {first_line(exc, 300)}")
        timing = result.candidate or result.baseline
        metrics = {"p50": timing.latency_ms.p50 if timing else None, "status": result.status}
        if result.reference is not None:
            metrics["reference_p50"] = result.reference.latency_ms.p50
        return Output(metrics, record=result, ok=result.status == "ok")


def _partners(node: Node) -> list[str]:
    """What the node's file is timed interleaved with: the FP32 baseline, the reference run's file."""
    return [name for name, key in (("the baseline", "baseline_file"), ("the reference", "reference"))
            if key in node.inputs]


def measure(files: dict[str, Path], fmt: str, bench, device: Device, images: np.ndarray | None = None,
            labels: np.ndarray | None = None, dataset: str = "") -> BenchResult:
    """Cold start of each file, then latency on `device`, all files interleaved (A B C, C B A rounds); `files` maps
    a role of BenchResult (candidate, baseline, reference) to its file. With images (a remote device), the
    candidate's top-1 on the device and its parity with the same file run on this host."""
    roles = list(files)
    request = TimingRequest(threads=bench.threads, runs=bench.runs, warmup=bench.warmup,
                            warmup_seconds=bench.warmup_seconds, min_seconds=bench.min_seconds,
                            cpus=parse_cpus(bench.cpus) if bench.cpus and device.kind == "local" else
                            (cpu_list(bench.cpus) if bench.cpus else None))
    with device.session():
        timed = device.time_files([(files[role], fmt) for role in roles], request, images=images)
        device_env = device.environment() if device.kind != "local" else None
    timings = {role: Timing(latency_ms=Latency(**device_latency(t, bench.warmup, bench.threads, device.label),
                                               interleaved_with=", ".join(r for r in roles if r != role) or None),
                            load_ms=t.cold_start.get("load_ms"), cold_start=t.cold_start)
               for role, t in zip(roles, timed)}
    result = BenchResult(**timings, device_env=device_env)
    if images is not None and result.candidate is not None:
        result.candidate.device_accuracy = on_device_accuracy(timed[roles.index("candidate")], images, labels,
                                                              dataset, files["candidate"], device)
    first = timings[roles[0]]
    where = "" if device.kind == "local" else f" on {device.label}"
    others = ", ".join(f"{role} {timings[role].latency_ms.p50:.3f} ms" for role in roles[1:])
    info(f"bench: {fmt} p50 {first.latency_ms.p50:.3f} ms at {bench.threads} thread(s){where}"
         + (f" ({others}, interleaved)" if others else ""))
    return result
