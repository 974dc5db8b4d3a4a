"""`compress --budget`: the budget file is checked before any work, the verdict lands in report.json as `gate`."""

import json
import xml.etree.ElementTree as ET

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
