"""`edgekit bench` (time files in their runtimes, optionally against a baseline) and `edgekit check` (the CI gate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgekit.cli import schema
from edgekit.cli.app import AsJson, app
from edgekit.core.errors import EdgekitError

BENCH_OPTIONS = schema.options(["bench.device", "bench.devices", "bench.threads", "bench.runs", "bench.warmup",
                                "bench.warmup_seconds", "bench.min_seconds", "bench.cpus", "data.eval_samples"])


def bench(artifacts: Annotated[list[Path], typer.Argument(help=".onnx, .tflite or .pte files")],
          baseline: Annotated[Optional[Path], typer.Option(
              "--baseline", help="artifact to compare against (timed interleaved)")] = None,
          data: Annotated[Optional[str], typer.Option("--data", help="measure accuracy on this data too")] = None,
          budget: Annotated[Optional[Path], typer.Option(
              "--budget", help="gate the files on this budget YAML, --baseline as their reference (docs/budgets.md)")]
          = None,
          junit: Annotated[Optional[Path], typer.Option("--junit", help="with --budget: write JUnit XML here")] = None,
          markdown: Annotated[Optional[Path], typer.Option(
              "--markdown", help="with --budget: write a markdown summary here (and to $GITHUB_STEP_SUMMARY)")] = None,
          runtime: Annotated[str, typer.Option("--runtime", help="cpu: each format's own runtime; tensorrt: "
                                               "engines from .onnx files, timed with trtexec (NVIDIA GPU, Jetson); "
                                               "ort-cuda, ort-tensorrt: onnxruntime's execution providers (ssh)",
                                               metavar="[cpu|tensorrt|ort-cuda|ort-tensorrt]",
                                               rich_help_panel="TensorRT")] = "cpu",
          precision: Annotated[str, typer.Option("--precision", help="TensorRT engine precisions, e.g. fp16,int8 "
                                                 "(int8 calibrates on --data)", rich_help_panel="TensorRT")] = "fp16",
          batch: Annotated[int, typer.Option("--batch", min=1, help="TensorRT throughput batch (img/s)",
                                             rich_help_panel="TensorRT")] = 64,
          as_json: AsJson = False, **options: Any) -> None:
    """Time artifacts in their own runtimes (cold start and peak memory in a child process); with --baseline,
    report the latency ratio and its confidence interval; with --budget, gate them like `edgekit check` (exit 0
    pass, 1 violated, 2 bad input, 3 inconclusive)."""
    from pydantic import ValidationError

    from edgekit.bench.bench_gate import BenchGate
    from edgekit.bench.check import publish
    from edgekit.bench.compare import bench as run_bench
    from edgekit.bench.compare import to_json
    from edgekit.bench.cpus import parse_cpus
    from edgekit.bench.gate_output import print_gate
    from edgekit.bench.tables import bench_summary
    from edgekit.core.options import BenchOptions
    from edgekit.core.recipe import describe_validation_error
    from edgekit.core.ui import console
    from edgekit.devices import open_device
    from edgekit.devices.config import cpu_list

    try:
        settings = BenchOptions(**{name.split(schema.SEPARATOR, 1)[1]: value for name, value in options.items()
                                   if name.startswith("bench" + schema.SEPARATOR)})
    except ValidationError as exc:
        raise EdgekitError(describe_validation_error(exc)) from exc
    if budget is None and (junit is not None or markdown is not None):
        raise EdgekitError("--junit and --markdown write the budget gate's results: add --budget FILE")
    device = open_device(settings.device, settings.devices)
    cpus = None
    if settings.cpus:
        cpus = parse_cpus(settings.cpus) if device.kind == "local" else cpu_list(settings.cpus)
    if runtime not in ("cpu", "tensorrt", "ort-cuda", "ort-tensorrt"):
        raise EdgekitError(f"--runtime {runtime}: choose cpu, tensorrt, ort-cuda or ort-tensorrt")
    if runtime == "tensorrt":
        if budget is not None:
            raise EdgekitError("--budget gates per-run samples of the CPU runtimes and onnxruntime's providers; "
                               "--runtime tensorrt is not gated yet")
        _tensorrt(artifacts, device, precision, batch, data, as_json)
        return
    gate = BenchGate(budget, artifacts, baseline, data, device.label) if budget is not None else None
    result = run_bench(artifacts, settings.threads, settings.runs, settings.warmup, baseline, data,
                       options["data__eval_samples"], warmup_seconds=settings.warmup_seconds,
                       min_seconds=settings.min_seconds, cpus=cpus, device=device,
                       provider=runtime.removeprefix("ort-") if runtime.startswith("ort-") else None)
    verdict = gate.evaluate(result) if gate is not None else None
    if verdict is not None:
        publish(verdict, junit, markdown)
        result["gate"] = verdict
    if as_json:
        typer.echo(to_json(result))
    else:
        console.print(bench_summary(result))
    if verdict is not None:
        print_gate(verdict)
        raise typer.Exit(verdict["exit_code"])


def _tensorrt(artifacts: list[Path], device, precision: str, batch: int, data: str | None, as_json: bool) -> None:
    from edgekit.bench.compare import to_json, validation_arrays
    from edgekit.bench.tables import tensorrt_table
    from edgekit.bench.tensorrt import CALIBRATION_IMAGES, bench_tensorrt
    from edgekit.core.ui import console

    calibration = validation_arrays(artifacts[0], data, CALIBRATION_IMAGES, device)[0] if data else None
    result = bench_tensorrt(artifacts, device, [p.strip() for p in precision.split(",") if p.strip()], batch,
                            calibration)
    if as_json:
        typer.echo(to_json(result))
    else:
        console.print(tensorrt_table(result))


@app.command()
def check(report: Annotated[Path, typer.Argument(help="report.json of a run")],
          budget: Annotated[Optional[Path], typer.Option("--budget", help="budget YAML (required; docs/budgets.md)")]
          = None,
          junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here")] = None,
          markdown: Annotated[Optional[Path], typer.Option(
              "--markdown", help="write a markdown summary here (also appended to $GITHUB_STEP_SUMMARY when set)")]
          = None,
          as_json: AsJson = False) -> None:
    """Gate a report on size, latency and accuracy budgets: exit 0 pass, 1 violated, 2 bad input, 3 inconclusive."""
    from edgekit.bench.check import run_check
    from edgekit.bench.gate_output import print_gate

    if budget is None:
        raise EdgekitError("--budget FILE is required: the YAML limits to check the report against")
    gate, text = run_check(report, budget, junit, markdown, as_json)
    print_gate(gate)
    if text is not None:
        typer.echo(text)
    raise typer.Exit(gate["exit_code"])


app.command(name="bench")(schema.command(bench, BENCH_OPTIONS))
