"""Terminal tables fit an 80-column terminal: the compress summary, `edgekit bench`, `edgekit models`."""

import io

import numpy as np
from doubles import lognormal, make_artifact, make_report
from rich.console import Console

from edgekit.bench.measure import latency_record
from edgekit.bench.report import COLUMNS, markdown, speedups, terminal_table
from edgekit.bench.tables import bench_summary, bench_table
from edgekit.core.ui import WIDTH
from edgekit.models.catalog import catalog_table
from edgekit.models.zoo import MODELS

XNNPACK_ERROR = ("runtime failed: RuntimeError: XNNPACK delegate could not lower aten.hardswish.default: "
                 "the quantization parameters of node 'features.3.conv' [1x16x56x56] are missing")


def render(renderable, width: int = WIDTH) -> list[str]:
    out = Console(file=io.StringIO(), width=width, color_system=None)
    out.print(renderable)
    return out.file.getvalue().splitlines()


def natural_width(table) -> int:
    """The width a table takes when nothing squeezes it."""
    return Console(file=io.StringIO(), width=500).measure(table).maximum


def compressed_report(rng) -> dict:
    """An int8 run in three formats against its FP32 baseline; the .pte file failed verification."""
    artifacts = [make_artifact("onnx", "int8", np.full(50, 0.5), size_bytes=620_000, top1=91.2),
                 make_artifact("tflite", "int8", lognormal(rng, 0.52, 50), size_bytes=640_000, top1=91.04),
                 make_artifact("pte", "int8", None, size_bytes=700_000, status="failed")]
    artifacts[2]["error"] = XNNPACK_ERROR
    baseline = [make_artifact("onnx", "fp32", np.full(50, 1.6), size_bytes=2_410_000, top1=91.4),
                make_artifact("tflite", "fp32", lognormal(rng, 1.6, 50), size_bytes=2_400_000, top1=91.38),
                make_artifact("pte", "fp32", lognormal(rng, 0.9, 50), size_bytes=2_390_000, top1=91.4)]
    return make_report(artifacts, baseline, model="mobilenetv3_large_100_pruned", accuracy_pytorch=91.3)


def row_of(lines: list[str], *cells: str) -> str:
    (line,) = [line for line in lines if line.split()[:len(cells)] == list(cells)]
    return line


def test_compress_summary_fits_80_columns_with_speed_ups_against_the_fp32_baseline(rng):
    report = compressed_report(rng)
    summary = terminal_table(report)
    assert natural_width(summary.renderables[0]) <= WIDTH  # fits without squeezing a column
    lines = render(summary)
    assert max(map(len, lines)) <= WIDTH
    assert row_of(lines, "artifact", "onnx", "int8").split() == ["artifact", "onnx", "int8", "0.62", "91.20",
                                                                 "0.500", "3.20×", "ok"]
    tflite = report["baseline"][1]["latency_ms"]["p50"] / report["artifacts"][1]["latency_ms"]["p50"]
    assert f"{tflite:.2f}×" in row_of(lines, "artifact", "tflite", "int8")
    assert row_of(lines, "baseline", "onnx", "fp32").split()[-2:] == ["1.00×", "ok"]
    assert row_of(lines, "artifact", "pte", "int8").split()[-2:] == ["-", "failed"]


def test_speed_up_is_baseline_p50_over_artifact_p50_of_the_same_format(rng):
    report = compressed_report(rng)
    onnx, tflite, pte = speedups(report)[:3]
    assert onnx == 1.6 / 0.5 and pte is None
    assert tflite == report["baseline"][1]["latency_ms"]["p50"] / report["artifacts"][1]["latency_ms"]["p50"]


def test_a_failed_file_gets_its_error_on_one_cut_line_below_the_table(rng):
    lines = render(terminal_table(compressed_report(rng)), width=200)
    (error,) = [line for line in lines if "XNNPACK" in line]
    assert error.startswith("artifact pte int8: runtime failed: RuntimeError: XNNPACK delegate")
    assert len(error.rstrip()) == WIDTH and error.rstrip().endswith("…")
    assert lines.index(error) > max(lines.index(line) for line in lines if line.startswith("baseline"))


def test_report_md_keeps_every_column(rng):
    table = [line for line in markdown(compressed_report(rng)).splitlines() if line.startswith("| set |")]
    assert table == ["| " + " | ".join(COLUMNS) + " |"] and len(COLUMNS) == 15


def test_without_a_baseline_run_there_is_no_speed_up_and_files_show_once(rng):
    """Uncompressed files are their own baseline: a speed-up against themselves would say nothing."""
    report = make_report([make_artifact("onnx", "fp32", lognormal(rng, 0.8, 30), top1=90.0)])
    lines = render(terminal_table(report))
    assert not any(line.startswith("baseline") for line in lines)
    assert row_of(lines, "artifact", "onnx").split()[-2:] == ["-", "ok"]


def bench_result(rng) -> dict:
    """`edgekit bench` of a long-path int8 file and its FP32 baseline (--baseline, --data)."""
    paths = ["runs/mobilenetv3_large_100-pruned/artifacts/mobilenetv3_large_100_int8.onnx",
             "runs/mobilenetv3_large_100-pruned/baseline/mobilenetv3_large_100.onnx"]
    latencies = [lognormal(rng, 312.5, 40), lognormal(rng, 1234.5, 40)]
    results = [{"path": path, "format": "onnx", "size_bytes": size, "load_ms": cold,
                "cold_start": {"load_ms": cold, "peak_rss_mb": rss, "process": "child"},
                "latency_ms": {**latency_record(list(samples), 1.0, 10, 4), "cpus": [0, 1, 2, 3]},
                "accuracy": {"top1": top1, "top5": 99.0, "n": 1000, "dataset": "cifar10"}}
               for path, samples, size, cold, rss, top1 in zip(paths, latencies, (5_480_000, 21_900_000),
                                                                (1234.56, 2345.67), (412.3, 1034.9), (75.12, 75.9))]
    comparison = {"candidate": paths[0], "baseline": paths[1], "ratio": 0.2531, "ratio_ci": [0.2467, 0.2598],
                  "mann_whitney": {"p_slower": 1.0, "p_faster": 1.2e-14}}
    return {"results": results, "comparisons": [comparison],
            "settings": {"threads": 4, "runs": 40, "warmup": 10, "cpus": [0, 1, 2, 3]}}


def test_bench_table_fits_80_columns_and_long_paths_keep_their_file_name(rng):
    result = bench_result(rng)
    lines = render(bench_summary(result))
    assert max(map(len, lines)) <= WIDTH
    first, second = result["results"]
    candidate, baseline = [line.split() for line in lines if line.startswith("…")]  # paths cut, file names kept
    assert candidate[0].endswith("_large_100_int8.onnx")
    assert candidate[1:] == ["onnx", "5.48", f"{first['latency_ms']['p50']:.1f}", f"{first['latency_ms']['p90']:.1f}",
                             f"{first['latency_ms']['p99']:.1f}", "1235", "412", "75.12"]
    assert baseline[0].endswith("_large_100.onnx") and baseline[5] == f"{second['latency_ms']['p99']:.1f}"
    assert "CPUs 0-3" in "\n".join(lines) and "4 thread(s)" in "\n".join(lines)
    assert "  latency ratio 0.253 (95% CI 0.247–0.260)" in lines
    assert "  Mann–Whitney p(slower) 1, p(faster) 1.2e-14" in lines


def test_bench_table_of_an_edge_model_in_the_current_directory_is_not_squeezed(rng):
    result = bench_result(rng)
    for entry, path in zip(result["results"], ("effnet_b0_int8.tflite", "effnet_b0.tflite")):
        entry["latency_ms"] = latency_record(list(lognormal(rng, 3.2, 40)), 1.0, 10, 4)
        entry["path"] = path
    assert natural_width(bench_table(result)) <= WIDTH


def test_models_table_fits_80_columns_one_line_per_model():
    rows = [{"name": name, "family": spec.family, "timm_id": spec.timm_id, "source": spec.source,
             "img_size": spec.img_size, "params": 28_290_000, "macs": 4_491_000_000} for name, spec in MODELS.items()]
    lines = render(catalog_table(rows))
    assert max(map(len, lines)) <= WIDTH
    for name, spec in MODELS.items():
        arch = [spec.timm_id] if spec.timm_id else ["edgekit", spec.source.rpartition(".")[2]]  # edgekit's families
        if len(" ".join(arch)) <= 24:
            assert row_of(lines, name).split() == [name, spec.family, *arch, str(spec.img_size), "28.29", "4.491"]
