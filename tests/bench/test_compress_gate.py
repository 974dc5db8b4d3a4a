"""`compress --budget`: the budget file is checked before any work, the verdict lands in report.json as `gate`."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from doubles import assert_one_line_error

BASE = ["--data", "synthetic", "--img-size", "32", "--epochs", "0"]


def test_a_bad_budget_file_fails_before_any_work(cli, tmp_path):
    (tmp_path / "b.yaml").write_text("budgets: [{max_size_mb: 5MB}]\n")
    assert_one_line_error(cli("compress", "test_effnet", *BASE, "--budget", str(tmp_path / "b.yaml"), cwd=tmp_path),
                          "must be a plain number in MB")
    assert not (tmp_path / "runs").exists()


def test_compress_gates_the_report_and_check_agrees(cli, tmp_path):
    (tmp_path / "tight.yaml").write_text(
        "budgets:\n  - match: {model: test_effnet, format: onnx}\n    max_size_mb: 0.01\n    max_latency_ratio: 1.0\n")
    result = cli("compress", "test_effnet", *BASE, "--formats", "onnx", "--runs", "30", "--warmup", "2",
                 "--budget", str(tmp_path / "tight.yaml"), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "budget gate: FAIL (1 passed, 1 failed" in result.stderr
    run = tmp_path / "run"
    gate = json.loads((run / "report.json").read_text())["gate"]
    assert gate["verdict"] == "fail" and [c["verdict"] for c in gate["checks"]] == ["fail", "pass"]
    assert (run / "gate.md").read_text().startswith("## edgekit budgets: ❌ FAIL")
    assert ET.parse(run / "gate.junit.xml").getroot().find(".//failure") is not None

    (tmp_path / "roomy.yaml").write_text("budgets:\n  - {max_size_mb: 50, max_params: 1e6, max_latency_ratio: 1.0}\n")
    check = cli("check", str(run / "report.json"), "--budget", str(tmp_path / "roomy.yaml"), "--junit",
                str(tmp_path / "junit.xml"), "--markdown", str(tmp_path / "gate.md"))
    assert check.returncode == 0, check.stderr
    assert len(ET.parse(tmp_path / "junit.xml").getroot().findall(".//testcase")) == 3


def test_the_shipped_budgets_plan_for_the_ci_workflow_command(cli_fast, tmp_path):
    """.github/workflows/edge-budgets.yml's command with benchmarks/budgets.yaml: the accuracy limits of budgets for
    other models do not stop a synthetic-data run; limits of a budget that matches are still checked."""
    budgets = str(Path(__file__).resolve().parents[2] / "benchmarks" / "budgets.yaml")
    ok = cli_fast("compress", "test_effnet", "--data", "synthetic", "--img-size", "64", "--epochs", "0", "--formats",
                  "onnx", "--budget", budgets, "--out", str(tmp_path / "ci"), "--dry-run")
    assert ok.returncode == 0, ok.stderr
    refused = cli_fast("compress", "effnet_lite0", "--data", "synthetic", "--img-size", "64", "--epochs", "0",
                       "--formats", "onnx", "--budget", budgets, "--out", str(tmp_path / "lite0"), "--dry-run")
    assert_one_line_error(refused, "limits accuracy (max_top1_drop, min_top1) but --data synthetic has no labels")
