"""Property tests: whatever text a device hands back, every parser returns a sane record or raises ParseError.

Inputs: arbitrary text, random bytes decoded with errors="replace", every sample cut at sampled line and character
boundaries, samples with lines dropped, and samples whose numbers were replaced by nan/inf/-1/huge values.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.devices import parsers as p

SAMPLES = Path(__file__).parent / "samples"
WANTED = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
          "neon", "asimd", "asimddp", "i8mm", "sve")

PARSERS = {
    "benchmark_model": (p.parse_benchmark_model, ("tflite_", "litert_")),
    "executor_runner": (p.parse_executor_runner, ("et_",)),
    "getprop": (p.parse_getprop, ("getprop_",)),
    "getprop_value": (p.parse_getprop_value, ("getprop_",)),
    "thermal_zones": (p.parse_thermal_zones, ("thermal_zones_",)),
    "dumpsys_thermal": (p.parse_dumpsys_thermal, ("dumpsys_",)),
    "nvpmodel": (p.parse_nvpmodel, ("nvpmodel_",)),
    "jetson_clocks": (p.parse_jetson_clocks, ("jetson_clocks_",)),
    "tegrastats": (p.parse_tegrastats, ("tegrastats_",)),
    "cpuinfo": (lambda text: p.parse_cpuinfo(text, WANTED), ("cpuinfo_",)),
}


def _samples(prefixes: tuple[str, ...]) -> list[str]:
    texts = [path.read_text() for path in sorted(SAMPLES.glob("*.txt")) if path.name.startswith(prefixes)]
    if prefixes == ("tegrastats_",):  # one line per sample, without the label comments
        texts = [line for text in texts for line in text.splitlines() if line and not line.startswith("#")]
    assert texts, prefixes
    return texts


SAMPLE_TEXTS = {name: _samples(prefixes) for name, (_, prefixes) in PARSERS.items()}
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
BAD_NUMBERS = ["nan", "-nan", "inf", "-inf", "-1", "-0", "0", "1e309", "1e-320", "99999999999999999999999999",
               "4294967296", "0x1f", "1.5.5", "", "١٢٣"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sane(value, path: str = "result") -> None:
    """Every float in a parsed record is finite (model outputs may hold nan: they are the model's, not the tool's)."""
    if isinstance(value, float):
        assert math.isfinite(value), f"{path} = {value}"
    elif isinstance(value, np.ndarray):
        return
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            _sane(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _sane(item, f"{path}[{key!r}]")
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _sane(item, f"{path}[{i}]")


def _check(name: str, text: str) -> None:
    parse = PARSERS[name][0]
    try:
        result = parse(text)
    except p.ParseError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    _sane(result)
    if name == "benchmark_model":
        assert result.inference_avg_ms >= 0 and (result.timed is None or result.timed.count >= 1)
    elif name == "executor_runner":
        assert all(t >= 0 for t in result.samples_ms)
        assert not result.samples_ms or len(result.samples_ms) == result.executions


def _truncated(name: str):
    texts = SAMPLE_TEXTS[name]

    @st.composite
    def build(draw):
        text = draw(st.sampled_from(texts))
        if draw(st.booleans()):  # a line boundary
            lines = text.splitlines(keepends=True)
            return "".join(lines[:draw(st.integers(0, len(lines)))])
        return text[:draw(st.integers(0, len(text)))]

    return build()


def _numbers_replaced(name: str):
    texts = SAMPLE_TEXTS[name]

    @st.composite
    def build(draw):
        text = draw(st.sampled_from(texts))
        spans = [m.span() for m in NUMBER.finditer(text)]
        if not spans:
            return text
        chosen = draw(st.lists(st.sampled_from(spans), min_size=1, max_size=6, unique=True))
        for start, end in sorted(chosen, reverse=True):
            text = text[:start] + draw(st.sampled_from(BAD_NUMBERS)) + text[end:]
        return text

    return build()


def _lines_dropped(name: str):
    texts = SAMPLE_TEXTS[name]

    @st.composite
    def build(draw):
        lines = draw(st.sampled_from(texts)).splitlines(keepends=True)
        keep = draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
        return "".join(line for line, kept in zip(lines, keep) if kept)

    return build()


@pytest.mark.parametrize("name", PARSERS)
def test_samples_themselves_parse(name):
    for text in SAMPLE_TEXTS[name]:
        _check(name, text)


@pytest.mark.parametrize("name", PARSERS)
@SETTINGS
@given(data=st.data())
def test_arbitrary_text(name, data):
    alphabet = st.sampled_from(list("0123456789.-+=:,[]()@%/ \t\nxCWmBs") + ["count=", "Inference", "Output",
                                                                             "Temperature{", "NV Power Mode:",
                                                                             "cpu0:", "RAM ", "ms.", "nan"])
    text = data.draw(st.one_of(st.text(), st.lists(alphabet, max_size=60).map("".join)))
    _check(name, text)


@pytest.mark.parametrize("name", PARSERS)
@SETTINGS
@given(raw=st.binary(max_size=400))
def test_random_bytes_decoded_with_replace(name, raw):
    _check(name, raw.decode("utf-8", errors="replace"))


@pytest.mark.parametrize("name", PARSERS)
@SETTINGS
@given(data=st.data())
def test_truncated_samples(name, data):
    _check(name, data.draw(_truncated(name)))


@pytest.mark.parametrize("name", PARSERS)
@SETTINGS
@given(data=st.data())
def test_numbers_replaced_by_nan_inf_negative_or_huge(name, data):
    _check(name, data.draw(_numbers_replaced(name)))


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_lines_dropped(name, data):
    _check(name, data.draw(_lines_dropped(name)))


@pytest.mark.parametrize("name", ["benchmark_model", "executor_runner"])
def test_every_line_boundary_of_every_timing_sample(name):
    """Exhaustive for the two timing parsers: each sample cut after each of its lines."""
    for text in SAMPLE_TEXTS[name]:
        lines = text.splitlines(keepends=True)
        for n in range(len(lines) + 1):
            _check(name, "".join(lines[:n]))


PATHOLOGICAL = {
    "long digits": "1" * 200_000,
    "huge count": "count=" + "1" * 100_000 + " curr=" + "9" * 100_000,
    "huge iteration": "Iteration " + "9" * 5000 + " of 2: 1 ms\nModel executed successfully 2 time(s) in 1 ms.",
    "huge ram": "RAM " + "9" * 400 + "/" + "9" * 401 + "MB",
    "open brackets": "[" * 100_000 + "]: [" + "]" * 1000,
    "endless tensor": "Model executed successfully.\nOutputX 0: tensor(sizes=[1], [\n" + "1.,\n" * 50_000,
    "many elements": "Model executed successfully.\n" + "".join(f"Output[0][{j}]: (float) 1.0\n" for j in range(50_000)),
    "repeated temps": "a@1C/" * 50_000,
    "long logcat tag": "07-14 13:14:52.859 22838 22838 I " + "t" * 100_000,
    "equals": "=" * 200_000,
}


@pytest.mark.parametrize("case", PATHOLOGICAL)
def test_pathological_inputs_are_safe_and_fast(case):
    import time

    for name in PARSERS:
        start = time.perf_counter()
        _check(name, PATHOLOGICAL[case])
        assert time.perf_counter() - start < 2.0, name


def test_parsers_import_only_stdlib_numpy_and_core_errors():
    """Each parser module's own imports: the standard library, numpy, core.errors and the parsers themselves."""
    import ast
    import sys

    folder = Path(__file__).resolve().parents[2] / "edgekit" / "devices" / "parsers"
    for module in folder.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                assert (top in sys.stdlib_module_names or top == "numpy" or name == "edgekit.core.errors"
                        or name.startswith("edgekit.devices.parsers")), f"{module.name} imports {name}"
