"""parse_benchmark_model on verbatim outputs of every benchmark_model generation (tests/devices/samples/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.core.errors import EXIT_USAGE
from edgekit.devices.parsers import ParseError, RunPlan, parse_benchmark_model

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_oldest_average_line_gives_averages_only():
    out = parse_benchmark_model(sample("tflite_average_line.txt"))
    assert out.generation == "average-line"
    assert (out.warmup_avg_ms, out.init_ms, out.inference_avg_ms) == (83.235, 38.467, 79.7609)
    assert out.timed is None and out.warmup is None and out.first_ms is None
    assert {"per-run samples", "p90", "p99", "median", "min", "max", "std", "first inference"} <= set(out.unavailable)


def test_tf112_no_stats_line_and_single_run_warmup():
    out = parse_benchmark_model(sample("tflite_tf112_am57x.txt"))
    assert out.generation == "stats"
    assert out.warmup.count == 1 and out.warmup.curr_ms == out.warmup.min_ms == out.warmup.avg_ms == 146.161
    assert out.warmup.std_ms == 0.0 and not out.warmup.all_same  # count=1 prints no "(all same)"
    timed = out.timed
    assert (timed.count, timed.first_ms, timed.curr_ms, timed.min_ms, timed.max_ms, timed.avg_ms, timed.std_ms) == (
        50, 137.789, 137.254, 137.079, 143.416, 137.722, 0.896)
    assert timed.plan == RunPlan(50, None, None)
    assert (out.init_ms, out.first_ms, out.inference_avg_ms) == (4.452, 146.161, 137.722)
    assert {"p5", "median", "p95", "memory footprint"} <= set(out.unavailable)


def test_2019_op_profiling_tables_are_ignored():
    out = parse_benchmark_model(sample("tflite_2019_no_stats_op_profiling.txt"))
    assert out.warmup.count == 6 and out.warmup.avg_ms == 86.1843
    assert out.timed.count == 50 and out.timed.avg_ms == 115.062 and out.timed.std_ms == 7.678
    assert out.timed.plan == RunPlan(50, 1.0, None)
    assert out.init_ms == 1.892 and out.first_ms == 91.81


def test_unprefixed_tf_era_with_model_size():
    out = parse_benchmark_model(sample("tflite_larq_rpi4.txt"))
    assert out.generation == "stats"
    assert out.model_size_mb == 3.34914
    assert out.warmup.plan == RunPlan(1, 0.5, 150.0) and out.timed.plan == RunPlan(50, 1.0, 150.0)
    assert (out.warmup.count, out.warmup.first_ms, out.warmup.max_ms, out.warmup.std_ms) == (12, 156.677, 156.677,
                                                                                            34.197)
    assert (out.timed.min_ms, out.timed.max_ms, out.timed.avg_ms) == (32.687, 33.239, 33.0718)
    assert (out.init_ms, out.first_ms, out.warmup_avg_ms, out.inference_avg_ms) == (3.501, 156.677, 43.2681, 33.0718)
    assert out.overall_footprint_mb is None and "memory footprint" in out.unavailable


def test_summary_line_with_memory_only():
    out = parse_benchmark_model(sample("tflite_rockpi_memory.txt"))
    assert out.generation == "summary-line" and out.timed is None
    assert (out.init_ms, out.first_ms, out.warmup_avg_ms, out.inference_avg_ms) == (495.671, 157.848, 161.194,
                                                                                    48.9765)
    assert out.init_footprint_mb == out.overall_footprint_mb == 73.3438


def test_info_prefixes_exponent_average_and_memory():
    out = parse_benchmark_model(sample("tflite_218_ti_am62x_cpu.txt"))
    assert out.warmup.count == 1 and out.warmup.curr_ms == 1041.765
    assert out.warmup_avg_ms == 1041.765  # the summary prints 1.04176e+06; the stats line's exact value wins
    assert (out.timed.count, out.timed.avg_ms, out.timed.std_ms) == (50, 971.535, 39.112)
    assert (out.init_ms, out.model_size_mb, out.init_footprint_mb, out.overall_footprint_mb) == (
        6.418, 67.3128, 6.14844, 109.848)
    assert out.delegate_notes == () and out.peak_memory_mb is None


def test_explicit_xnnpack_partial_delegation_is_noted():
    out = parse_benchmark_model(sample("tflite_218_ti_am62x_xnnpack.txt"))
    assert out.delegate_notes == ("Explicitly applied XNNPACK delegate, and the model graph will be partially "
                                  "executed by the delegate w/ 1 delegate kernels.",)
    assert out.inference_avg_ms == 602.943 and out.init_ms == 592.232


def test_tab_indented_docs_with_shell_lines():
    out = parse_benchmark_model(sample("tflite_arm_tc2_tabs.txt"))
    assert out.warmup.count == 70 and out.timed.count == 2
    assert out.timed.plan == RunPlan(1, 0.01, 150.0)
    assert (out.timed.first_ms, out.timed.avg_ms, out.timed.std_ms) == (6.449, 6.4795, 0.03)


def test_litert_logcat_threadtime_with_percentiles():
    out = parse_benchmark_model(sample("litert_logcat_threadtime.txt"))
    assert out.generation == "stats+percentiles"
    timed = out.timed
    assert (timed.count, timed.p5_ms, timed.median_ms, timed.p95_ms) == (25, 140.545, 141.253, 187.533)
    assert timed.plan is None  # the "Running benchmark" lines were not in the excerpt
    assert (out.warmup.count, out.warmup.median_ms) == (3, 200.386)
    assert (out.init_ms, out.init_footprint_mb, out.overall_footprint_mb) == (92.318, 54.2852, 73.4102)
    assert "median" not in out.unavailable and "p90" in out.unavailable


def test_litert_logcat_brief_with_xnnpack_replacement_note():
    out = parse_benchmark_model(sample("litert_logcat_brief_yolo26n.txt"))
    assert out.delegate_notes == ("Replacing 642 out of 685 node(s) with delegate (TfLiteXNNPackDelegate) node, "
                                  "yielding 19 partitions for subgraph 0.",)
    assert (out.timed.count, out.timed.median_ms, out.timed.p95_ms) == (10, 245.871, 264.534)
    assert out.timed.plan == RunPlan(10, 1.0, 150.0)
    assert (out.init_ms, out.model_size_mb, out.overall_footprint_mb) == (110.85, 5.05872, 89.4453)


def test_android_studio_logcat_prefix():
    prefix = "2023-06-14 10:55:21.084 18088-18088 tflite                  org.tensorflow.lite.benchmark        I  "
    text = "".join(prefix + line + "\n" for line in sample("tflite_larq_rpi4.txt").splitlines() if line)
    out = parse_benchmark_model(text)
    assert out.timed.count == 50 and out.timed.plan == RunPlan(50, 1.0, 150.0) and out.inference_avg_ms == 33.0718


def test_android_apk_average_line_with_memory_glued_on():
    text = ("... tflite  : Average inference timings in us: Warmup: 91471, Init: 4108, Inference: 80660.1"
            "Overall max resident set size = 91.5 MB, total malloc-ed size = 12.1 MB")
    out = parse_benchmark_model(text)
    assert (out.warmup_avg_ms, out.init_ms, out.inference_avg_ms) == (91.471, 4.108, 80.6601)


def test_peak_memory_line():
    peak = "INFO: Overall peak memory footprint (MB) via periodic monitoring: 93.2383\n"
    text = sample("litert_logcat_threadtime.txt") + peak
    out = parse_benchmark_model(text)
    assert out.peak_memory_mb == 93.2383 and "peak memory" not in out.unavailable


def test_all_same_stats_line():
    text = ("INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 "
            "seconds.\nINFO: count=3 curr=120(all same) p5=120 median=120 p95=120\n\n"
            "INFO: Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 150 "
            "seconds.\nINFO: count=5 first=130 curr=110 min=100 max=130 avg=114 std=10 p5=100 median=110 p95=130\n")
    out = parse_benchmark_model(text)
    assert out.warmup.all_same and out.warmup.first_ms == out.warmup.max_ms == 0.12 and out.warmup.std_ms == 0.0
    assert out.inference_avg_ms == 0.114 and out.first_ms == 0.12


def test_empty_warmup_prints_nan_average():
    text = ("Running benchmark for at least 0 iterations and at least -1 seconds but terminate if exceeding 150 "
            "seconds.\ncount=0\n\nRunning benchmark for at least 2 iterations and at least 0 seconds but terminate "
            "if exceeding 150 seconds.\ncount=2 first=10 curr=12 min=10 max=12 avg=11 std=1\n\n"
            "Inference timings in us: Init: 5, First inference: 0, Warmup (avg): nan, Inference (avg): 11\n")
    out = parse_benchmark_model(text)
    assert out.warmup.count == 0 and out.warmup.avg_ms is None and out.warmup_avg_ms is None
    assert out.inference_avg_ms == 0.011


@pytest.mark.parametrize("name, needle", [
    ("tflite_logcat_gpu_unsupported_truncated.txt", "Following operations are not supported by GPU delegate"),
    ("tflite_gpu_windows_truncated.txt", "count=600 f"),
    ("tflite_gpu_mobilebert_fallback.txt", "node_index >= 0 was not true"),
])
def test_real_failed_or_cut_runs_raise_one_line(name, needle):
    with pytest.raises(ParseError) as info:
        parse_benchmark_model(sample(name))
    message = str(info.value)
    assert message.startswith("benchmark_model ") and "\n" not in message and needle in message
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("text, needle", [
    ("", "printed no timing line (empty output)"),
    ("Running benchmark for at least 1 iterations\ncount=1 curr=5\n", "only one benchmark phase"),
    ("Running benchmark for at least 1 iterations\ncount=1 curr=5\nRunning benchmark for at least 2 iterations\n",
     "stops before the stats line"),
    ("Running benchmark for 1 iterations\ncount=1 curr=5\n\nRunning benchmark for 2 iterations\ncount=0\n",
     "ran no timed iteration"),
    ("Average inference timings in us: Warmup: 1, Init: 2, Inference: nan", "impossible value 'nan'"),
    ("Average inference timings in us: Warmup: 1, Init: 2, Inference: -5", "impossible value '-5'"),
    ("Running benchmark for 1 iterations\ncount=1 curr=5\nRunning benchmark for 2 iterations\n"
     "count=2 first=1 curr=9 min=9 max=1 avg=5 std=4\n", "min > max"),
    ("Running benchmark for 1 iterations\ncount=1 curr=5\nRunning benchmark for 2 iterations\n"
     "count=2 first=1 curr=9 min=1 max=9 avg=5 std=4\nInference timings in us: Init: 1, First inference: 5, "
     "Warmup (avg): 5, Inference (avg): 7\n", "garbled"),
])
def test_bad_outputs_raise(text, needle):
    with pytest.raises(ParseError, match=None) as info:
        parse_benchmark_model(text)
    assert needle in str(info.value)


def test_non_text_is_a_parse_error():
    with pytest.raises(ParseError, match="must be text"):
        parse_benchmark_model(b"count=1")  # type: ignore[arg-type]
