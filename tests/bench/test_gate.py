import xml.etree.ElementTree as ET

import numpy as np
import pytest
from doubles import lognormal, make_artifact, make_report

from edgekit.bench.budget import BudgetFile
from edgekit.bench.gate import evaluate, exit_code
from edgekit.bench.gate_output import append_step_summary, markdown
from edgekit.bench.junit import junit_xml
from edgekit.core.errors import EdgekitError


def budgets(*entries, alpha=0.002):
    return BudgetFile.model_validate({"alpha": alpha, "budgets": list(entries)})


def checks_by_key(gate):
    return {c["limit_key"]: c for c in gate["checks"]}


def test_size_params_macs_accuracy_are_exact_comparisons():
    report = make_report([make_artifact(size_bytes=4_000_000, params=300_000, macs=50_000_000, top1=90.0)],
                         accuracy_pytorch=90.5)
    gate = evaluate(report, budgets({"max_size_mb": 5, "max_params": 250_000, "max_macs": 60_000_000,
                                     "min_top1": 88.0, "max_top1_drop": 1.0}))
    got = checks_by_key(gate)
    assert got["max_size_mb"]["verdict"] == "pass" and got["max_size_mb"]["observed"] == 4.0
    assert got["max_params"]["verdict"] == "fail" and got["max_macs"]["verdict"] == "pass"
    assert got["min_top1"]["verdict"] == "pass"
    # the artifact is its own FP32 baseline here, so the drop is measured against the same-format baseline: 0
    assert got["max_top1_drop"]["observed"] == 0 and got["max_top1_drop"]["verdict"] == "pass"
    assert gate["verdict"] == "fail" and gate["exit_code"] == 1


def test_top1_drop_uses_the_fp32_baseline_of_the_same_format():
    int8 = make_artifact(precision="int8", top1=87.0, path="m.onnx")
    fp32 = make_artifact(top1=89.5, path="baseline/m.onnx")
    gate = evaluate(make_report([int8], [fp32]), budgets({"max_top1_drop": 2.0}))
    check = gate["checks"][0]
    assert check["observed"] == 2.5 and check["verdict"] == "fail" and "FP32 onnx baseline" in check["detail"]


def test_match_selects_artifacts_and_unmatched_budgets_are_listed():
    report = make_report([make_artifact("onnx"), make_artifact("tflite", size_bytes=9_000_000)])
    gate = evaluate(report, budgets({"match": {"format": "tfl*"}, "max_size_mb": 5},
                                    {"match": {"model": "resnet*"}, "max_size_mb": 1}))
    assert [(c["format"], c["verdict"]) for c in gate["checks"]] == [("tflite", "fail")]
    assert gate["unmatched"] == ["#2 model=resnet*"]


def test_no_budget_matching_anything_is_bad_input():
    with pytest.raises(EdgekitError, match="no budget .* matches any artifact"):
        evaluate(make_report([make_artifact()]), budgets({"match": {"model": "resnet50"}, "max_size_mb": 1}))


def test_a_failed_artifact_fails_its_budgets():
    gate = evaluate(make_report([make_artifact(status="failed")]), budgets({"max_size_mb": 100}))
    assert gate["checks"][0]["limit_key"] == "verified" and gate["verdict"] == "fail"


def test_missing_measurements_fail_with_the_reason():
    gate = evaluate(make_report([make_artifact()]), budgets({"min_top1": 50, "max_latency_p50_ms": 10}))
    got = checks_by_key(gate)
    assert got["min_top1"]["verdict"] == "fail" and "not measured" in got["min_top1"]["detail"]
    assert got["max_latency_p50_ms"]["verdict"] == "fail" and "no latency" in got["max_latency_p50_ms"]["detail"]


def test_latency_verdicts_and_bonferroni(rng):
    fast = make_artifact(samples=lognormal(rng, 5.0, 100))
    gate = evaluate(make_report([fast]), budgets({"max_latency_p50_ms": 6, "max_latency_p90_ms": 6.2}))
    assert gate["alpha_per_test"] == pytest.approx(0.001)
    got = checks_by_key(gate)
    assert got["max_latency_p50_ms"]["verdict"] == "pass"
    assert got["max_latency_p50_ms"]["test"]["ci"][1] < 6
    assert got["max_latency_p90_ms"]["verdict"] == "inconclusive" and "too noisy" in got["max_latency_p90_ms"]["detail"]
    assert gate["verdict"] == "inconclusive" and gate["exit_code"] == 3


def test_ratio_against_a_separate_baseline(rng):
    cand = make_artifact(precision="int8", samples=lognormal(rng, 6.0, 100))
    base = make_artifact(samples=lognormal(rng, 10.0, 100), path="baseline/test_effnet.onnx")
    gate = evaluate(make_report([cand], [base]), budgets({"max_latency_ratio": 0.5}, {"max_latency_ratio": 0.8}))
    assert [c["verdict"] for c in gate["checks"]] == ["fail", "pass"]
    assert 0.55 < gate["checks"][0]["observed"] < 0.65


def test_reports_without_samples_are_inconclusive():
    artifact = make_artifact(samples=np.full(50, 3.0))
    artifact["latency_ms"].pop("samples")
    gate = evaluate(make_report([artifact]), budgets({"max_latency_p50_ms": 4}))
    assert gate["verdict"] == "inconclusive" and "no per-run samples" in gate["checks"][0]["detail"]


def test_exit_code_of_compress():
    assert exit_code({"ok": True}) == 0
    assert exit_code({"ok": False, "gate": {"verdict": "pass"}}) == 1
    assert exit_code({"ok": True, "gate": {"verdict": "inconclusive"}}) == 3
    assert exit_code({"ok": True, "gate": {"verdict": "error"}}) == 2


@pytest.fixture
def mixed_gate(rng):
    report = make_report([make_artifact(samples=lognormal(rng, 5.0, 100), size_bytes=9_000_000),
                          make_artifact("tflite", samples=lognormal(rng, 5.0, 100))])
    return evaluate(report, budgets({"max_size_mb": 5, "max_latency_p50_ms": 5.0, "name": "tiny <&> model"}))


def test_junit_xml_parses_with_failures_and_errors(mixed_gate):
    root = ET.fromstring(junit_xml(mixed_gate))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(mixed_gate["checks"]) == 4
    assert len(root.findall(".//testcase/failure")) == 1 and root.get("failures") == "1"
    assert len(root.findall(".//testcase/error")) == 2  # p50 exactly at the limit: inconclusive
    assert cases[0].get("name").startswith("tiny <&> model: size ≤ 5 MB")


def test_markdown_and_step_summary(mixed_gate, tmp_path, monkeypatch):
    text = markdown(mixed_gate)
    assert text.startswith("## edgekit budgets: ❌ FAIL") and "| tiny <&> model | onnx fp32 | size ≤ 5 MB |" in text
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_step_summary(text) is None
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    append_step_summary(text)
    assert summary.read_text().startswith("earlier step\n## edgekit budgets")


def test_gate_run_keeps_the_run_when_no_budget_matches(tmp_path):
    from edgekit.bench.gate import gate_run

    (tmp_path / "b.yaml").write_text("budgets: [{match: {model: resnet50}, max_size_mb: 1}]\n")
    gate = gate_run(make_report([make_artifact()]), tmp_path / "b.yaml", tmp_path)
    assert gate["verdict"] == "error" and gate["exit_code"] == 2 and "matches any artifact" in gate["error"]
    assert not (tmp_path / "gate.md").exists()
    (tmp_path / "b.yaml").write_text("budgets: [{max_size_mb: 1}]\n")
    assert gate_run(make_report([make_artifact()]), tmp_path / "b.yaml", tmp_path)["verdict"] == "fail"
    assert ET.parse(tmp_path / "gate.junit.xml").getroot().find(".//failure") is not None


def with_reference(artifact: dict, samples=None, size_bytes: int = 2_000_000, top1: float | None = None,
                   dataset: str = "fashion-mnist") -> dict:
    """`artifact` with a `vs_reference` record, as compress --reference writes it."""
    from edgekit.bench.reference import comparison

    theirs = make_artifact(samples=samples, size_bytes=size_bytes, top1=top1)
    if theirs["accuracy"]:
        theirs["accuracy"]["dataset"] = dataset
    artifact["vs_reference"] = comparison(
        artifact["size_bytes"], artifact["latency_ms"], artifact["accuracy"], path="test_effnet.onnx",
        sha256="1" * 64, reference_size=size_bytes, reference_latency=theirs["latency_ms"],
        reference_accuracy=theirs["accuracy"], run="runs/main")
    return artifact


REFERENCE_BUDGET = {"max_latency_ratio_vs_reference": 1.10, "max_size_growth": 1.05, "max_top1_drop_vs_reference": 0.5}


def test_reference_limits_pass_on_an_identical_copy_and_fail_on_a_slower_bigger_one(rng):
    same = with_reference(make_artifact(samples=lognormal(rng, 5.0, 200), top1=90.0),
                          samples=lognormal(rng, 5.0, 200), top1=90.0)
    gate = evaluate(make_report([same]), budgets(REFERENCE_BUDGET))
    assert gate["verdict"] == "pass" and gate["latency_tests"] == 1, gate["checks"]
    assert 0.95 < checks_by_key(gate)["max_latency_ratio_vs_reference"]["observed"] < 1.05
    slower = with_reference(make_artifact(samples=lognormal(rng, 6.5, 200), size_bytes=2_200_000, top1=88.0),
                            samples=lognormal(rng, 5.0, 200), top1=90.0)
    got = checks_by_key(evaluate(make_report([slower]), budgets(REFERENCE_BUDGET)))
    assert {k: c["verdict"] for k, c in got.items()} == dict.fromkeys(REFERENCE_BUDGET, "fail")
    assert got["max_size_growth"]["observed"] == 1.1 and got["max_top1_drop_vs_reference"]["observed"] == 2.0
    assert 1.2 < got["max_latency_ratio_vs_reference"]["observed"] < 1.4
    assert got["max_latency_ratio_vs_reference"]["test"]["ci"][0] > 1.1  # the verdict and its interval agree


def test_reference_limits_without_a_reference_are_not_measured_never_passed(rng):
    gate = evaluate(make_report([make_artifact(samples=lognormal(rng, 5.0, 100), top1=90.0)]),
                    budgets(REFERENCE_BUDGET))
    assert gate["verdict"] == "fail"
    assert all(c["verdict"] == "fail" and "not measured: no reference" in c["detail"] for c in gate["checks"])


def test_top1_vs_a_reference_measured_on_other_data_is_not_compared(rng):
    artifact = with_reference(make_artifact(top1=90.0), top1=95.0, dataset="cifar10")
    assert "not compared" in artifact["vs_reference"]["note"]
    check = evaluate(make_report([artifact]), budgets({"max_top1_drop_vs_reference": 1.0}))["checks"][0]
    assert check["verdict"] == "fail" and "not comparable" in check["detail"]
