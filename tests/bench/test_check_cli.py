"""`edgekit check` as CI runs it: terminal table, JUnit XML, markdown, JSON and exit codes 0/1/2/3."""

import json
import xml.etree.ElementTree as ET

import pytest
from doubles import assert_one_line_error, lognormal, make_artifact, make_report


@pytest.fixture
def files(tmp_path, rng):
    report = make_report([make_artifact(samples=lognormal(rng, 5.0, 100), size_bytes=3_000_000)])
    (tmp_path / "report.json").write_text(json.dumps(report))

    def budget(text: str):
        (tmp_path / "budgets.yaml").write_text(text)
        return str(tmp_path / "report.json"), "--budget", str(tmp_path / "budgets.yaml")

    return budget


def test_pass_writes_junit_markdown_and_step_summary(cli, tmp_path, files):
    summary = tmp_path / "summary.md"
    args = files("budgets: [{max_size_mb: 5, max_latency_p50_ms: 6}]")
    result = cli("check", *args, "--junit", str(tmp_path / "out" / "junit.xml"), "--markdown",
                 str(tmp_path / "gate.md"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stderr
    assert "budget gate: PASS (2 passed, 0 failed, 0 inconclusive)" in result.stderr
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert len(root.findall(".//testcase")) == 2 and not root.findall(".//failure")
    assert (tmp_path / "gate.md").read_text().startswith("## edgekit budgets: ✅ pass")
    assert summary.read_text() == (tmp_path / "gate.md").read_text() + "\n"


def test_violation_exits_1_with_a_junit_failure(cli, tmp_path, files):
    result = cli("check", *files("budgets: [{max_size_mb: 2}]"), "--junit", str(tmp_path / "j.xml"), "--json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["checks"][0]["verdict"] == "fail"
    failure = ET.parse(tmp_path / "j.xml").getroot().find(".//testcase/failure")
    assert failure is not None and "observed 3" in failure.get("message")


def test_too_noisy_to_decide_exits_3(cli, files):
    result = cli("check", *files("budgets: [{max_latency_p50_ms: 5.0}]"))
    assert result.returncode == 3, result.stderr
    text = " ".join(result.stderr.split())  # the 80-column console wraps long evidence
    assert "INCONCLUSIVE" in text and "too noisy to decide" in text


@pytest.mark.parametrize("budget, fragment", [
    ("budgets: [{max_size: 5}]", "did you mean 'max_size_mb'?"),
    ("budgets: [{max_size_mb: 5MB}]", "must be a plain number in MB"),
    ("budgets: [{match: {model: resnet50}, max_size_mb: 5}]", "matches any artifact"),
])
def test_bad_budget_exits_2_in_one_line(cli, files, budget, fragment):
    assert_one_line_error(cli("check", *files(budget)), fragment)


def test_bad_report_and_missing_option_exit_2(cli, tmp_path, files):
    report, _, budget = files("budgets: [{max_size_mb: 5}]")
    data = json.loads(open(report).read())
    data["schema_version"] = 99
    (tmp_path / "other.json").write_text(json.dumps(data))
    assert_one_line_error(cli("check", str(tmp_path / "other.json"), "--budget", budget), "report schema 99")
    assert_one_line_error(cli("check", str(tmp_path / "none.json"), "--budget", budget), "does not exist")
    assert_one_line_error(cli("check", report), "--budget FILE is required")
