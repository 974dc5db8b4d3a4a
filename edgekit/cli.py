"""Thin Typer CLI: parse flags → Recipe → pipeline; every user error is one line in one place."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit import __version__
from edgekit.core.errors import EXIT_USAGE, EdgekitError, first_line

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compress, export, verify and benchmark vision models for phones, Jetson boards and edge CPUs.")

# shared option aliases (one definition, reused by every command)
Model = Annotated[str, typer.Argument(help="zoo name (see `edgekit models`), timm:<name>, or a checkpoint directory")]
Data = Annotated[Optional[str], typer.Option("--data", help="fashion-mnist | cifar10 | synthetic | ImageFolder dir")]
ImgSize = Annotated[Optional[int], typer.Option("--img-size", help="input size in px (default: the model's)")]
NumClasses = Annotated[Optional[int], typer.Option("--num-classes", help="classes when the data has no labels")]
Formats = Annotated[Optional[str], typer.Option("--formats", help="comma list of onnx, tflite, pte")]
Weights = Annotated[Optional[Path], typer.Option("--weights", help=".safetensors or tensor-only .pt/.pth")]
Pretrained = Annotated[Optional[bool], typer.Option("--pretrained/--no-pretrained", help="timm hub weights (online)")]
Out = Annotated[Optional[Path], typer.Option("--out", help="run directory (default runs/<model>)")]
Overwrite = Annotated[Optional[bool], typer.Option("--overwrite", help="replace an existing run directory")]
Seed = Annotated[Optional[int], typer.Option("--seed")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="inference threads for latency (default 1)")]
Runs = Annotated[Optional[int], typer.Option("--runs", help="timed runs per artifact")]
Warmup = Annotated[Optional[int], typer.Option("--warmup", help="untimed warm-up runs")]
EvalSamples = Annotated[Optional[int], typer.Option("--eval-samples", help="cap on validation images")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON on stdout")]
WarmupSeconds = Annotated[float, typer.Option("--warmup-seconds", min=0, help="keep warming up at least this long")]
MinSeconds = Annotated[float, typer.Option("--min-seconds", min=0, help="keep timing at least this long (beyond --runs)")]
Cpus = Annotated[Optional[str], typer.Option("--cpus", help="pin the measuring process to CPUs, e.g. 0 or 0,2 or 0-3")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if os.environ.get("EDGEKIT_DEBUG") == "1" else logging.WARNING)


@app.command()
def models(as_json: AsJson = False) -> None:
    """List the registered models: family, timm id, default size, params and MACs."""
    from edgekit.core.ui import console
    from edgekit.models.catalog import catalog, catalog_table

    rows = catalog()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console.print(catalog_table(rows))


OptionalModel = Annotated[Optional[str], typer.Argument(help="zoo name, timm:<name> or checkpoint dir "
                                                             "(optional when --recipe names the model)")]


@app.command()
def compress(
    model: OptionalModel = None,
    prune: Annotated[Optional[float], typer.Option(
        "--prune", help="torch-pruning's channel ratio: fraction of channels removed per layer group, 0-0.95 (0 = off)")] = None,
    prune_criterion: Annotated[Optional[str], typer.Option(
        "--prune-criterion", help="channel importance: l2 (default) | taylor | bn-scale | lamp | random")] = None,
    prune_scope: Annotated[Optional[str], typer.Option(
        "--prune-scope", help="uniform (same ratio per layer, default) | global (rank channels model-wide)")] = None,
    prune_steps: Annotated[Optional[int], typer.Option(
        "--prune-steps", help="prune in K steps, fine-tuning between steps when data and epochs allow")] = None,
    round_to: Annotated[Optional[int], typer.Option("--round-to", help="pruned widths are multiples of N (default 8)")] = None,
    prune_ignore: Annotated[Optional[str], typer.Option(
        "--prune-ignore", help="comma list of layer names/globs kept at full width (classifier and stem always)")] = None,
    prune_target: Annotated[Optional[str], typer.Option(
        "--prune-target", help="macs=F or latency=F: prune until MACs / measured onnxruntime latency <= F x original")] = None,
    int8: Annotated[Optional[bool], typer.Option(
        "--int8/--no-int8", help="INT8 weights and activations in every format (`--int8 ptq|qat` picks the mode)")] = None,
    int8_mode: Annotated[Optional[str], typer.Option(
        "--int8-mode", help="auto (QAT when the data can train, else PTQ) | qat | ptq")] = None,
    quant_backend: Annotated[Optional[str], typer.Option(
        "--quant-backend",
        help="auto (default: pt2e; nncf's bias-corrected PTQ for MobileNetV3/EfficientNet) | pt2e | nncf")] = None,
    calib_samples: Annotated[Optional[int], typer.Option(
        "--calib-samples", help="calibration images for PTQ / QAT initial ranges (default 256)")] = None,
    max_drop: Annotated[Optional[float], typer.Option(
        "--max-drop", help="max top-1 points lost vs FP32 on the exported file; sensitive layers stay float")] = None,
    qat_epochs: Annotated[Optional[int], typer.Option("--qat-epochs", help="QAT epochs (default 1)")] = None,
    qat_lr: Annotated[Optional[float], typer.Option("--qat-lr", help="QAT learning rate (default 1e-4)")] = None,
    tflite_io: Annotated[Optional[str], typer.Option(
        "--tflite-io", help="int8 .tflite interface: int8 (default; scale/zero point in the file) | float")] = None,
    kd: Annotated[Optional[bool], typer.Option("--kd/--no-kd", help="knowledge distillation")] = None,
    data: Data = None, subset: Annotated[Optional[int], typer.Option("--subset", help="cap training images")] = None,
    img_size: ImgSize = None, num_classes: NumClasses = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="teacher training epochs (default 3)")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="peak learning rate (default 5e-3)")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="global batch size (default 64)")] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="adamw | sgd")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option("--label-smoothing")] = None,
    warmup_fraction: Annotated[Optional[float], typer.Option("--warmup-fraction", help="warm-up share of all steps")] = None,
    ema: Annotated[Optional[float], typer.Option("--ema", help="EMA decay of weights, e.g. 0.999")] = None,
    clip_grad: Annotated[Optional[float], typer.Option("--clip-grad", help="max gradient norm")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="continue from a training state file")] = None,
    kd_temperature: Annotated[Optional[float], typer.Option("--kd-temperature", help="default 2.0")] = None,
    kd_alpha: Annotated[Optional[float], typer.Option("--kd-alpha", help="weight of the KD term (default 0.7)")] = None,
    kd_features: Annotated[Optional[bool], typer.Option("--kd-features/--no-kd-features",
                                                        help="also match final feature maps (learnt 1x1 projection)")] = None,
    kd_cache_logits: Annotated[Optional[bool], typer.Option("--kd-cache-logits/--no-kd-cache-logits",
                                                            help="teacher logits computed once, unaugmented")] = None,
    formats: Formats = None, weights: Weights = None, pretrained: Pretrained = None,
    recipe: Annotated[Optional[Path], typer.Option("--recipe", help="YAML recipe; flags override it")] = None,
    budget: Annotated[Optional[Path], typer.Option("--budget", help="budget YAML to gate on")] = None,
    out: Out = None, overwrite: Overwrite = None, seed: Seed = None, threads: Threads = None, runs: Runs = None,
    bench_warmup: Warmup = None,
    warmup_seconds: Annotated[Optional[float], typer.Option("--warmup-seconds", help="warm up at least this long")] = None,
    min_seconds: Annotated[Optional[float], typer.Option("--min-seconds", help="time at least this long")] = None,
    cpus: Cpus = None, eval_samples: EvalSamples = None,
) -> None:
    """Train/load → (prune → distil → INT8) → export → verify → benchmark; writes a run directory."""
    from edgekit.core.recipe import load_recipe
    from edgekit.pipeline import run

    overrides = dict(model=model, prune=prune, prune_criterion=prune_criterion, prune_scope=prune_scope,
                     prune_steps=prune_steps, round_to=round_to, prune_ignore=prune_ignore, prune_target=prune_target,
                     int8=int8, int8_mode=int8_mode, quant_backend=quant_backend, calib_samples=calib_samples,
                     max_drop=max_drop, qat_epochs=qat_epochs, qat_lr=qat_lr, tflite_io=tflite_io, kd=kd, data=data, subset=subset, img_size=img_size,
                     num_classes=num_classes, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                     weight_decay=weight_decay, label_smoothing=label_smoothing, warmup_fraction=warmup_fraction, ema=ema,
                     clip_grad=clip_grad, resume=resume, kd_temperature=kd_temperature, kd_alpha=kd_alpha,
                     kd_features=kd_features, kd_cache_logits=kd_cache_logits, formats=formats, weights=weights,
                     pretrained=pretrained, budget=budget, out=out, overwrite=overwrite, seed=seed, threads=threads,
                     runs=runs, warmup=bench_warmup, warmup_seconds=warmup_seconds, min_seconds=min_seconds, cpus=cpus,
                     eval_samples=eval_samples)
    report, _ = run(load_recipe(recipe, overrides), command="compress")
    from edgekit.bench.gate import exit_code

    raise typer.Exit(exit_code(report))  # 1: a file failed verification or a budget; 3: a budget inconclusive


@app.command()
def export(
    model: Model, formats: Formats = None, img_size: ImgSize = None, num_classes: NumClasses = None,
    weights: Weights = None, pretrained: Pretrained = None,
    data: Annotated[Optional[str], typer.Option("--data", help="inputs for parity (default synthetic)")] = None,
    out: Out = None, overwrite: Overwrite = None, seed: Seed = None, eval_samples: EvalSamples = None,
) -> None:
    """Export a model or checkpoint to each format and verify every file in its runtime (no training)."""
    from edgekit.core.recipe import load_recipe
    from edgekit.pipeline import run

    overrides = dict(model=model, formats=formats, img_size=img_size, num_classes=num_classes, weights=weights,
                     pretrained=pretrained, data=data or "synthetic", out=out, overwrite=overwrite, seed=seed,
                     eval_samples=eval_samples, epochs=0, train_teacher=False, bench=False)
    report, _ = run(load_recipe(None, overrides), command="export")
    raise typer.Exit(0 if report["ok"] else 1)


@app.command()
def bench(
    artifacts: Annotated[list[Path], typer.Argument(help=".onnx, .tflite or .pte files")],
    device: Annotated[str, typer.Option("--device", help="local | adb:SERIAL | ssh:USER@HOST")] = "local",
    threads: Annotated[int, typer.Option("--threads", min=1)] = 1,
    runs: Annotated[int, typer.Option("--runs", min=1)] = 100,
    warmup: Annotated[int, typer.Option("--warmup", min=0)] = 10,
    warmup_seconds: WarmupSeconds = 0.0, min_seconds: MinSeconds = 0.0, cpus: Cpus = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="artifact to compare against (interleaved)")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="measure accuracy on this data too")] = None,
    eval_samples: EvalSamples = None, as_json: AsJson = False,
) -> None:
    """Time artifacts in their own runtimes (cold start and peak memory in a child process); with --baseline,
    report the latency ratio and its CI."""
    from edgekit.bench.compare import bench as run_bench
    from edgekit.bench.compare import check_device, to_json
    from edgekit.bench.cpus import parse_cpus

    check_device(device)
    result = run_bench(artifacts, threads, runs, warmup, baseline, data, eval_samples, warmup_seconds=warmup_seconds,
                       min_seconds=min_seconds, cpus=parse_cpus(cpus) if cpus else None)
    if as_json:
        typer.echo(to_json(result))
    else:
        from edgekit.bench.tables import bench_summary
        from edgekit.core.ui import console

        console.print(bench_summary(result))


@app.command()
def analyze(
    model: Model,
    sensitivity: Annotated[bool, typer.Option("--sensitivity", help="prune each layer group alone and measure the cost")] = False,
    data: Annotated[Optional[str], typer.Option("--data", help="labelled data gives top-1 drop; else output distortion")] = None,
    img_size: ImgSize = None, weights: Weights = None,
    ratios: Annotated[str, typer.Option("--ratios", help="comma list of channel ratios to try")] = "0.1,0.3,0.5",
    samples: Annotated[int, typer.Option("--samples", min=1, help="validation images per measurement")] = 64,
    round_to: Annotated[int, typer.Option("--round-to", min=1, help="kept widths are multiples of N")] = 8,
    prune_ignore: Annotated[Optional[str], typer.Option("--prune-ignore", help="layer names/globs to leave out")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="directory for sensitivity.json/.png "
                                                "(default runs/<model>-sensitivity)")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0, as_json: AsJson = False,
) -> None:
    """Analyse a model for pruning: per-group sensitivity table and plot (guides --prune-ignore / prune_ratios)."""
    from edgekit.core.ui import console, info
    from edgekit.pruning.analysis import dumps, run_analysis, table

    if not sensitivity:
        raise EdgekitError("edgekit analyze needs an analysis to run: pass --sensitivity")
    ignore = [p.strip() for p in (prune_ignore or "").split(",") if p.strip()]
    result, directory = run_analysis(model, data or "synthetic", img_size, ratios, out, weights=weights,
                                     samples=samples, round_to=round_to, ignore=ignore, seed=seed)
    if as_json:
        typer.echo(dumps(result))
    else:
        console.print(table(result))
    info(f"sensitivity: {directory / 'sensitivity.json'} and {directory / 'sensitivity.png'}")


@app.command()
def check(report: Annotated[Path, typer.Argument(help="report.json of a run")],
          budget: Annotated[Optional[Path], typer.Option("--budget", help="budget YAML (required; README: Budgets)")] = None,
          junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here")] = None,
          markdown: Annotated[Optional[Path], typer.Option(
              "--markdown", help="write a markdown summary here (also appended to $GITHUB_STEP_SUMMARY when set)")] = None,
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


def _click_exceptions():
    """Where ClickException lives: typer >= 0.2x vendors click, older releases use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the typer release
        from click import exceptions
    return exceptions


def int8_mode_shorthand(argv: list[str]) -> list[str]:
    """`--int8 ptq` / `--int8 qat` (the documented shorthand) -> `--int8 --int8-mode ptq|qat`."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg in ("ptq", "qat") and i > 0 and argv[i - 1] == "--int8":
            out += ["--int8-mode", arg]
        else:
            out.append(arg)
    return out


def main() -> None:
    """Console entry point: one line and exit code 2 for user errors; tracebacks only with EDGEKIT_DEBUG=1."""
    click = _click_exceptions()
    debug = os.environ.get("EDGEKIT_DEBUG") == "1"
    try:
        code = app(args=int8_mode_shorthand(sys.argv[1:]), standalone_mode=False)
    except EdgekitError as exc:
        if debug:
            raise
        typer.echo(f"edgekit: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `edgekit`: the help was shown
            sys.exit(0)
        typer.echo(f"edgekit: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        typer.echo("edgekit: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("edgekit: interrupted; earlier results are untouched", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        typer.echo(f"edgekit: internal error: {type(exc).__name__}: {first_line(exc)} "
                   "(set EDGEKIT_DEBUG=1 for the traceback)", err=True)
        sys.exit(4)
    sys.exit(code if isinstance(code, int) else 0)
