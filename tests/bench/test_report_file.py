import json

import pytest
from doubles import lognormal, make_artifact, make_report

from edgekit.bench.report_file import load_report
from edgekit.core.errors import EdgekitError


def write(tmp_path, report) -> str:
    path = tmp_path / "report.json"
    path.write_text(report if isinstance(report, str) else json.dumps(report))
    return path


@pytest.fixture
def report(rng):
    return make_report([make_artifact(samples=lognormal(rng, 5.0, 30), top1=80.0)])


def test_a_valid_report_loads(tmp_path, report):
    assert load_report(write(tmp_path, report))["model"] == "test_effnet"


def edit(report, change):
    change(report)
    return report


@pytest.mark.parametrize("change, fragment", [
    (lambda r: r.update(schema_version=2), "report schema 2"),
    (lambda r: r.update(edgekit_version="7.0.0"), "written by edgekit 7.0.0"),
    (lambda r: r.pop("artifacts"), "not a valid edgekit report: artifacts: Field required"),
    (lambda r: r["artifacts"][0].update(precision="fp8"), "artifacts.0.precision"),
    (lambda r: r["artifacts"][0].update(size_bytes=-1), "size_bytes is negative"),
    (lambda r: r["artifacts"][0]["latency_ms"].update(p50=99.0), "percentiles out of order"),
    (lambda r: r["artifacts"][0]["latency_ms"].update(p50=4.0), "does not match the median of its samples"),
    (lambda r: r["artifacts"][0]["latency_ms"].update(runs=31), "30 latency samples but runs = 31"),
    (lambda r: r["artifacts"][0]["latency_ms"]["samples"].__setitem__(0, -1), "positive numbers"),
    (lambda r: r["artifacts"][0]["accuracy"].update(top1=120.0), "impossible"),
    (lambda r: r.update(artifacts=[]), "no artifacts"),
])
def test_other_versions_and_hand_edited_reports_are_one_line_errors(tmp_path, report, change, fragment):
    with pytest.raises(EdgekitError) as caught:
        load_report(write(tmp_path, edit(report, change)))
    assert fragment in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "is not valid JSON"),
    ('{"schema_version": 1, "x": NaN}', "is not valid JSON (NaN"),
    ("[1, 2]", "not an edgekit report.json"),
])
def test_garbage_is_one_line(tmp_path, text, fragment):
    with pytest.raises(EdgekitError, match=fragment.replace("(", r"\(")):
        load_report(write(tmp_path, text))


def test_missing_report(tmp_path):
    with pytest.raises(EdgekitError, match="does not exist"):
        load_report(tmp_path / "report.json")


def test_a_reference_comparison_loads_and_one_from_another_device_is_refused(tmp_path, rng, report):
    from edgekit.bench.reference import comparison

    artifact = report["artifacts"][0]
    theirs = make_artifact(samples=lognormal(rng, 5.0, 30))["latency_ms"]
    artifact["vs_reference"] = comparison(artifact["size_bytes"], artifact["latency_ms"], None, path="m.onnx",
                                          sha256="1" * 64, reference_size=1000, reference_latency=theirs,
                                          reference_accuracy=None, run="runs/main")
    loaded = load_report(write(tmp_path, report))["artifacts"][0]["vs_reference"]
    assert loaded["size_growth"] == 2000.0 and loaded["ratio_ci"][0] <= loaded["ratio"] <= loaded["ratio_ci"][1]
    theirs["device"] = "ssh:pi@board:22"
    with pytest.raises(EdgekitError, match="not a same-run comparison"):
        load_report(write(tmp_path, report))
