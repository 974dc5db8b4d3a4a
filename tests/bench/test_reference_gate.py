"""The regression gate against a reference: `bench CAND --baseline REF --budget` and `compress --reference RUN_DIR`,
with real timing of real files: an identical copy passes, a copy made slower fails, bad input is one line."""

import json
import shutil
import xml.etree.ElementTree as ET

import pytest
from doubles import assert_one_line_error, slowed_onnx, tiny_onnx

pytest.importorskip("onnxruntime")

REFERENCE_BUDGET = "budgets:\n  - {max_latency_ratio_vs_reference: 1.10, max_size_growth: 1.5}\n"


@pytest.fixture
def files(tmp_path):
    reference = tiny_onnx(tmp_path / "main.onnx")
    shutil.copyfile(reference, tmp_path / "same.onnx")
    slowed_onnx(reference, tmp_path / "slower.onnx", matmuls=4, size=32)  # ≈ 2× slower here, same outputs
    (tmp_path / "ref.yaml").write_text(REFERENCE_BUDGET)
    return tmp_path


def test_bench_gate_passes_an_identical_copy_and_fails_a_slower_one(cli, files):
    same = cli("bench", "same.onnx", "--baseline", "main.onnx", "--budget", "ref.yaml", "--runs", "300", "--json",
               cwd=files)
    assert same.returncode == 0, same.stderr
    gate = json.loads(same.stdout)["gate"]
    assert gate["verdict"] == "pass" and [c["limit_key"] for c in gate["checks"]] == [
        "max_latency_ratio_vs_reference", "max_size_growth"]
    assert "budget gate: PASS (2 passed" in same.stderr

    slower = cli("bench", "slower.onnx", "--baseline", "main.onnx", "--budget", "ref.yaml", "--runs", "300",
                 "--junit", "gate.xml", "--markdown", "gate.md", cwd=files)
    assert slower.returncode == 1, slower.stderr
    assert "budget gate: FAIL (0 passed, 2 failed" in slower.stderr  # its extra weights make it bigger, too
    failed = [case.get("name") for case in ET.parse(files / "gate.xml").getroot().iter("testcase")
              if case.find("failure") is not None]
    assert failed == ["#1 every artifact: latency vs reference ≤ 1.1", "#1 every artifact: size vs reference ≤ 1.5"]
    assert (files / "gate.md").read_text().startswith("## edgekit budgets: ❌ FAIL")


@pytest.mark.parametrize("args, budget, fragment", [
    (["same.onnx"], REFERENCE_BUDGET, "limits max_latency_ratio_vs_reference, max_size_growth, which compare with a "
                                      "baseline/reference, but no --baseline FILE"),
    (["same.onnx", "--baseline", "main.onnx"], "budgets: [{max_top1_drop_vs_reference: 1}]",
     "limits accuracy (max_top1_drop_vs_reference) but no --data"),
    (["same.onnx", "--baseline", "main.onnx"], "budgets: [{match: {model: resnet50}, max_size_growth: 1}]",
     "no budget in 'b.yaml' matches any file (model same, formats onnx, device local)"),
    (["same.onnx", "--junit", "x.xml"], None, "--junit and --markdown write the budget gate's results"),
])
def test_bench_budget_bad_input_is_one_line_before_timing(cli_fast, files, args, budget, fragment):
    extra = []
    if budget is not None:
        (files / "b.yaml").write_text(budget)
        extra = ["--budget", "b.yaml"]
    assert_one_line_error(cli_fast("bench", *args, *extra, cwd=files), fragment)
