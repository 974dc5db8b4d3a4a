"""trtexec output and --exportTimes parsing: recorded samples with exact values, and garbage never crashes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core.errors import EdgekitError
from edgekit.devices.tensorrt.trtexec import (
    ParseError,
    Stats,
    decode_version,
    parse_export_times,
    parse_trtexec,
)

SAMPLES = Path(__file__).parent / "samples" / "trtexec"
TEXT_SAMPLES = sorted(SAMPLES.glob("*.txt"))


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def test_every_sample_file_is_listed_in_sources():
    listed = (SAMPLES / "SOURCES.md").read_text()
    files = [p.name for p in SAMPLES.iterdir() if p.suffix in (".txt", ".json")]
    assert files and all(f"| {name} |" in listed for name in files)


def test_parse_error_is_a_one_line_edgekit_error():
    with pytest.raises(ParseError) as info:
        parse_trtexec("hello world\nnothing here\n")
    assert isinstance(info.value, EdgekitError) and "\n" not in str(info.value)


@pytest.mark.parametrize(("code", "version"), [(7201, (7, 2, 1)), (8401, (8, 4, 1)), (8602, (8, 6, 2)),
                                               (100300, (10, 3, 0)), (101300, (10, 13, 0)), (110100, (11, 1, 0)),
                                               (12, None), (12345, None)])
def test_banner_version_codes(code, version):
    assert decode_version(code) == version


def test_trt7_host_latency_block():
    r = parse_trtexec(sample("trt7_tensorrt2054.txt"))
    assert r.latency == Stats(min=1.64058, max=6.2915, mean=1.66069, median=1.65601, percentiles={99.0: 1.67065})
    assert r.end_to_end == Stats(min=1.66368, max=7.65552, mean=3.00909, median=3.01636, percentiles={99.0: 3.03931})
    assert r.throughput_qps == 0.0 and r.total_host_walltime_s == 3.00461
    assert r.gpu_compute is None and r.enqueue is None  # the post stops at the "Enqueue Time" header
    assert r.version is None and r.passed is None


def test_trt7_selected_lines_with_gpu_compute_block():
    r = parse_trtexec(sample("trt7_devices_md.txt"))
    assert r.latency.min == 4.34442 and r.latency.percentiles == {99.0: 5.46606}
    assert r.end_to_end.min == 4.35388 and r.end_to_end.percentiles == {99.0: 6.10291}
    assert r.gpu_compute == Stats(mean=4.42492)
    assert r.total_gpu_compute_s == 2.93372


def test_trt8_end_to_end_line():
    r = parse_trtexec(sample("trt8_e2e_meta_tegra1124.txt"))
    assert r.throughput_qps == 27207.0
    assert r.latency == Stats(0.564209, 0.593018, 0.573891, 0.572998, {99.0: 0.587769})
    assert r.end_to_end == Stats(0.574707, 0.606201, 0.586663, 0.585938, {99.0: 0.601685})
    assert r.enqueue == Stats(0.126709, 0.282104, 0.140747, 0.134277, {99.0: 0.182129})
    assert r.h2d == Stats(0.00610352, 0.00793457, 0.00656457, 0.0065918, {99.0: 0.00708008})
    assert r.gpu_compute == Stats(0.554932, 0.58374, 0.564682, 0.564087, {99.0: 0.578552})
    assert r.d2h == Stats(0.00219727, 0.00341797, 0.00265072, 0.00268555, {99.0: 0.00317383})
    assert (r.total_host_walltime_s, r.total_gpu_compute_s) == (3.00158, 2.88214)


def test_trt84_single_percentile_and_passed_line():
    r = parse_trtexec(sample("trt8400_meta_tegra952.txt"))
    assert r.version == (8, 4, 0) and r.passed is True
    assert r.throughput_qps == 41087.7
    assert r.latency == Stats(0.387207, 0.447357, 0.402238, 0.401947, {99.0: 0.420288})
    assert r.gpu_compute == Stats(0.375977, 0.403564, 0.388221, 0.388443, {99.0: 0.393188})
    assert r.end_to_end is None
    assert (r.total_host_walltime_s, r.total_gpu_compute_s) == (3.00119, 2.99202)
    r = parse_trtexec(sample("trt8401_devices_md.txt"))
    assert r.version == (8, 4, 1) and r.passed is True and r.throughput_qps == 128.422
    assert r.latency.median == 7.95883 and r.gpu_compute.percentiles == {99.0: 7.88892}


def test_no_data_transfers_zeros_and_warnings():
    r = parse_trtexec(sample("trt8_yolov7_pr329.txt"))
    assert r.h2d == Stats(0.0, 0.0, 0.0, 0.0, {99.0: 0.0}) and r.d2h.max == 0.0
    assert r.latency == r.gpu_compute  # nothing transferred: latency is compute
    assert r.warnings == ["* GPU compute time is unstable, with coefficient of variance = 2.10486%.",
                          "If not already in use, locking GPU clock frequency or adding --useSpinWait may improve "
                          "the stability."]


def test_trt10_three_percentiles():
    r = parse_trtexec(sample("trt10_devices_md.txt"))
    assert r.throughput_qps == 1574.34
    assert r.latency == Stats(0.94249, 1.51343, 0.949318, 0.948975, {90.0: 0.951172, 95.0: 0.951843, 99.0: 0.953735})
    assert r.gpu_compute.percentiles == {90.0: 0.633789, 95.0: 0.633911, 99.0: 0.634888}
    assert r.total_host_walltime_s == 3.0019 and r.total_gpu_compute_s is None
    assert r.warnings == ["* Throughput may be bound by Enqueue Time rather than GPU Compute and the GPU may be "
                          "under-utilized."]


def test_truncated_recorded_logs():
    r = parse_trtexec(sample("trt10_tensorrt4177_truncated.txt"))
    assert r.gpu_compute == Stats(5.34595, 13.3388, 7.58404, 7.14139, {90.0: 10.2881, 95.0: 10.8175, 99.0: 12.9485})
    assert r.enqueue.max == 15.0201 and r.d2h.percentiles[99.0] == 0.0994873
    assert r.warnings == ["* Throughput may be bound by E"]
    r = parse_trtexec(sample("trt10_ptlflow65_truncated.txt"))
    assert r.throughput_qps == 32.7261 and r.latency.percentiles[95.0] == 30.8396
    assert r.total_host_walltime_s == 3.08622
    assert r.total_gpu_compute_s is None  # cut before its unit: not taken as 3.0635 s


def test_banners_without_a_summary():
    r = parse_trtexec(sample("trt100200_header_tensorrt4036.txt"))
    assert r.version == (10, 2, 0) and not r.has_summary and r.passed is None
    r = parse_trtexec(sample("trt110000_header_sam3_26.txt"))
    assert r.version == (11, 0, 0) and r.data_transfers is False and not r.has_summary


def test_trt11_constructed_log():
    r = parse_trtexec(sample("trt110100_constructed.txt"))
    assert r.version == (11, 1, 0) and r.passed is True and r.data_transfers is True
    assert r.queries == 5987 and r.throughput_qps == 1995.34
    assert r.latency == Stats(0.487061, 0.612305, 0.498216, 0.497559,
                              {50.0: 0.497559, 90.0: 0.501953, 99.0: 0.520508})
    assert r.gpu_compute.median == 0.401367 and r.h2d.mean == 0.0829571
    assert (r.total_host_walltime_s, r.total_gpu_compute_s) == (3.00049, 2.40539)
    assert len(r.warnings) == 2 and r.warnings[1].startswith("Consider removing --includeDataTransfers")


def test_trt11_unknown_option():
    r = parse_trtexec(sample("trt110100_unknown_option_constructed.txt"))
    assert r.version == (11, 1, 0) and r.passed is None and not r.has_summary
    assert r.errors == ["Unknown option: --fp16"]


def test_version_line_wins_over_banner_and_failed_is_seen():
    text = ("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=m.onnx\n"
            "[01/01/2025-00:00:00] [I] TensorRT version: 10.3.0\n"
            "[01/01/2025-00:00:01] [E] Error[4]: [network.cpp::validate::2789] Error Code 4: Internal Error\n"
            "&&&& FAILED TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=m.onnx\n")
    r = parse_trtexec(text.encode())
    assert r.version == (10, 3, 0) and r.passed is False and r.errors[0].startswith("Error[4]")


def test_nan_and_inf_values_become_none():
    r = parse_trtexec("=== Performance summary ===\nThroughput: nan qps\n"
                      "GPU Compute Time: min = inf ms, max = 1e999 ms, mean = nan ms, median = 2 ms, "
                      "percentile(99%) = inf ms\n")
    assert r.throughput_qps is None
    assert r.gpu_compute == Stats(None, None, None, 2.0, {})


def test_windows_line_endings_and_non_utf8_bytes():
    text = sample("trt8400_meta_tegra952.txt").replace("\n", "\r\n").encode() + b"\xff\xfe garbage \x80\n"
    r = parse_trtexec(text)
    assert r.version == (8, 4, 0) and r.gpu_compute.median == 0.388443


# ------------------------------------------------------------------------------------------- --exportTimes

def test_export_times_newer_fields():
    t = parse_export_times((SAMPLES / "export_times_v8_5plus_constructed.json").read_text(), warmup_ms=200)
    assert t.field_names == "new" and t.dropped_warmup == 0 and t.end_to_end_ms is None
    assert t.latency_ms == [0.497803, 0.5, 0.492432, 0.607422]
    assert t.gpu_compute_ms == [0.401367, 0.404297, 0.396484, 0.509766]
    assert t.h2d_ms[0] == 0.0830078 and t.d2h_ms[-1] == 0.0136719


def test_export_times_old_fields_with_warmup_entries():
    text = (SAMPLES / "export_times_v7_constructed.json").read_text()
    t = parse_export_times(text, warmup_ms=200)
    assert t.field_names == "old" and t.dropped_warmup == 2
    assert t.latency_ms == [4.64, 4.72] and t.gpu_compute_ms == [4.37, 4.45] and t.end_to_end_ms == [8.91, 9.02]
    assert parse_export_times(text).dropped_warmup == 0  # no warm-up given: every entry kept


def test_export_times_without_latency_sums_the_parts():
    t = parse_export_times(json.dumps([{"inMs": 0.5, "computeMs": 2.0, "outMs": 0.25}]))
    assert t.latency_ms == [2.75] and t.field_names == "old"


@pytest.mark.parametrize("text", ["", "[", "{}", "[1, 2]", "[]", '[{"computeMs": "fast", "latencyMs": 1}]',
                                  '[{"latencyMs": 1}]', '[{"computeMs": 1}]', '[{"computeMs": NaN, "latencyMs": 1}]',
                                  "[" * 100000, '[{"computeMs": true, "latencyMs": 1}]',
                                  '[{"computeMs": 1' + "0" * 400 + ', "latencyMs": 1}]'])
def test_export_times_bad_files_are_parse_errors(text):
    with pytest.raises(ParseError) as info:
        parse_export_times(text)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------- properties

ALL_TEXT = [p.read_text(encoding="utf-8") for p in TEXT_SAMPLES]
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["nan", "-inf", "1e999", "-0", "1e-400", "", "x", "00.0.0", "+", "--1"]))
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_parse_error(text) -> None:
    try:
        result = parse_trtexec(text)
    except ParseError as exc:
        assert "\n" not in str(exc)
        return
    for stats in (result.latency, result.gpu_compute, result.h2d, result.d2h, result.enqueue, result.end_to_end):
        if stats is not None:
            for value in (stats.min, stats.max, stats.mean, stats.median, *stats.percentiles.values()):
                assert value is None or value == value  # never NaN


@PROPERTY
@given(st.text())
def test_any_text_parses_or_raises_parse_error(text):
    _parse_or_parse_error(text)


@PROPERTY
@given(st.binary())
def test_any_bytes_parse_or_raise_parse_error(data):
    _parse_or_parse_error(data)


@PROPERTY
@given(st.sampled_from(ALL_TEXT), st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=60))
def test_truncated_and_spliced_samples(text, cut, drop):
    _parse_or_parse_error(text[:cut])
    _parse_or_parse_error(text[:cut] + text[cut + drop:])


@PROPERTY
@given(st.sampled_from(ALL_TEXT), NUMBERS, st.data())
def test_samples_with_numbers_replaced(text, number, data):
    import re

    spots = list(re.finditer(r"\d+\.?\d*", text))
    if spots:
        m = spots[data.draw(st.integers(min_value=0, max_value=len(spots) - 1))]
        text = text[:m.start()] + number + text[m.end():]
    _parse_or_parse_error(text)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["computeMs", "latencyMs", "h2dMs", "d2hMs", "inMs", "outMs", "endToEndMs",
                         "startComputeMs", "other"]), children, max_size=6),
    max_leaves=20)


@PROPERTY
@given(JSON_VALUES, st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)))
def test_any_json_parses_or_raises_parse_error(value, warmup):
    try:
        text = json.dumps(value)
    except ValueError:
        return
    try:
        times = parse_export_times(text, warmup_ms=warmup)
    except ParseError as exc:
        assert "\n" not in str(exc)
        return
    assert len(times.latency_ms) == len(times.gpu_compute_ms) > 0


@PROPERTY
@given(st.binary(max_size=300))
def test_export_times_any_bytes(data):
    try:
        parse_export_times(data)
    except ParseError:
        pass
