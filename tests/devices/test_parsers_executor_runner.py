"""parse_executor_runner on verbatim executor_runner outputs (tests/devices/samples/SOURCES.md) and the formats
executor_runner.cpp / print_evalue.cpp print."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.devices.parsers import ParseError, parse_executor_runner

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_latest_format_has_load_time_and_per_iteration_samples():
    out = parse_executor_runner(sample("et_latest_fixture.txt"))
    assert out.load_ms == 4463.268273
    assert out.samples_ms == (241.944288,)
    assert (out.executions, out.total_ms, out.mean_ms) == (1, 241.944288, 241.944288)
    assert "per-run samples" not in out.unavailable and "output values" in out.unavailable


def test_2025_format_without_load_line_or_iterations():
    out = parse_executor_runner(sample("et_2025_add_posix.txt"))
    assert (out.model_path, out.method, out.planned_buffer_bytes) == ("add.pte", "forward", 48)
    assert (out.executions, out.total_ms, out.load_ms, out.samples_ms) == (1, 0.691078, None, ())
    assert {"per-run samples", "load time"} <= set(out.unavailable)
    (output,) = out.outputs
    assert output.shape == (1,) and output.values.tolist() == [2.0] and not output.elided


def test_oldest_format_has_no_timing_at_all():
    out = parse_executor_runner(sample("et_oldest_portable_readme.txt"))
    assert (out.executions, out.total_ms, out.mean_ms) == (None, None, None)
    assert {"per-run samples", "total time", "load time"} <= set(out.unavailable)
    (output,) = out.outputs
    assert output.shape == (1, 1000) and output.elided and output.values is None
    assert "elided output values" in out.unavailable
    assert out.planned_buffer_bytes == 18652672


def test_summary_mode_wrapped_and_elided():
    out = parse_executor_runner(sample("et_build_from_source_doc.txt"))
    assert (out.executions, out.total_ms, out.output_count) == (1, 15.013292, 1)
    assert out.outputs[0].shape == (1, 1000) and out.outputs[0].elided


def test_arm_runner_all_mode_int_and_float():
    ints = parse_executor_runner(sample("et_arm_fvp_add_int.txt"))
    (output,) = ints.outputs
    assert output.dtype == "int" and output.shape is None and output.values.tolist() == [2.0] * 5
    floats = parse_executor_runner(sample("et_arm_fvp_softmax_float.txt"))
    assert floats.outputs[0].dtype == "float"
    np.testing.assert_allclose(floats.outputs[0].values, [0.225432] * 4)
    assert floats.executions is None  # the Arm runner prints the old "Model executed successfully." line


def test_summary_tensor_of_ten_values_and_multiple_outputs():
    text = ("I 00:00:00.100000 executorch:executor_runner.cpp:789] Model executed successfully 2 time(s) in "
            "3.000000 ms.\nI 00:00:00.100010 executorch:executor_runner.cpp:798] 2 outputs: \n"
            "OutputX 0: tensor(sizes=[2, 5], [1., -2.5, 3e-07, 0.5, -0., 6., 7., 8., 9., 10.])\n"
            "OutputX 1: tensor(sizes=[1, 12], [\n  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, \n  11, 12, \n])\n")
    out = parse_executor_runner(text)
    first, second = out.outputs
    assert first.shape == (2, 5) and first.values.dtype == np.float32
    np.testing.assert_array_equal(first.values.ravel()[:5], np.float32([1.0, -2.5, 3e-07, 0.5, 0.0]))
    assert second.shape == (1, 12) and second.values.ravel().tolist() == list(range(1, 13))
    assert not first.values.flags.writeable


def test_wasm_style_prefix_without_time_and_interleaved_logs():
    text = ("I executorch:executor_runner.cpp:624] Model loaded in 1.500000 ms.\n"
            "I executorch:executor_runner.cpp:779] Iteration 1 of 2: 0.400000 ms\n"
            "I executorch:executor_runner.cpp:779] Iteration 2 of 2: 0.600000 ms\n"
            "I executorch:executor_runner.cpp:789] Model executed successfully 2 time(s) in 1.000000 ms.\n"
            "I executorch:executor_runner.cpp:798] 1 outputs: \n"
            "OutputX 0: tensor(sizes=[1, 11], [\n  0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1., \n"
            "I executorch:some_backend.cpp:12] a log line that landed inside the tensor\n  1.1, \n])\n")
    out = parse_executor_runner(text)
    assert out.load_ms == 1.5 and out.samples_ms == (0.4, 0.6) and out.mean_ms == 0.5
    assert out.outputs[0].values.shape == (1, 11)


def test_all_mode_bool_and_not_tensor():
    text = ("Model executed successfully 1 time(s) in 1.0 ms.\nOutput[0][0]: (bool) true  (0x1)\n"
            "Output[0][1]: (bool) false (0x0)\nOutput[1]: Not Tensor\n")
    out = parse_executor_runner(text)
    assert out.outputs[0].values.tolist() == [1.0, 0.0] and out.outputs[0].dtype == "bool"
    assert out.outputs[1].kind == "other" and out.outputs[1].values is None


def test_vulkan_error_is_named_in_the_parse_error():
    with pytest.raises(ParseError) as info:
        parse_executor_runner(sample("et_vulkan_not_registered.txt"))
    assert str(info.value) == ("executor_runner printed no 'Model executed successfully' line (its error: Backend "
                               "VulkanBackend is not registered.)")


OK_RUN = "Model executed successfully 2 time(s) in 1.000000 ms.\n"


@pytest.mark.parametrize("text, needle", [
    ("", "no 'Model executed successfully' line (empty output)"),
    ("Iteration 1 of 2: 0.5 ms\n" + OK_RUN, "1 iteration lines for 2 execution(s)"),
    ("Iteration 1 of 2: 0.5 ms\nIteration 2 of 2: 0.9 ms\n" + OK_RUN, "add up to"),
    ("Iteration 1 of 2: 0.5 ms\nIteration 1 of 2: 0.5 ms\n" + OK_RUN, "repeated or impossible"),
    ("Model executed successfully 1 time(s) in nan ms.\n", "impossible time 'nan'"),
    ("Model loaded in -3.0 ms.\n" + OK_RUN, "impossible time '-3.0'"),
    (OK_RUN + OK_RUN, "two runs"),
    (OK_RUN + "OutputX 0: tensor(sizes=[1, 3], [1., 2.])\n", "has 2 values for sizes [1, 3]"),
    (OK_RUN + "OutputX 0: tensor(sizes=[1, 20], [\n  1., 2., \n", "cut off before its closing"),
    (OK_RUN + "OutputX 0: tensor(sizes=[1, 2], [1., abc])\n", "'abc', which is not a number"),
    (OK_RUN + "Output[0][0]: (float) 1.0\nOutput[0][2]: (float) 1.0\n", "skips or repeats"),
    (OK_RUN + "I 00:00:00.1 executorch:x.cpp:1] 2 outputs: \nOutputX 0: tensor(sizes=[1], [1.])\n",
     "announced 2 outputs but printed 1"),
])
def test_bad_outputs_raise(text, needle):
    with pytest.raises(ParseError) as info:
        parse_executor_runner(text)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_nan_in_a_model_output_is_kept_as_the_models_result():
    out = parse_executor_runner(OK_RUN + "OutputX 0: tensor(sizes=[2], [nan, -inf])\n")
    values = out.outputs[0].values
    assert np.isnan(values[0]) and values[1] == -np.inf
