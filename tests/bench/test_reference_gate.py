"""The regression gate against a reference: `bench CAND --baseline REF --budget` and `compress --reference RUN_DIR`,
with real timing of real files: an identical copy passes, a copy made slower fails, bad input is one line."""

import json
import os
import shutil
import subprocess
import sys
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


COMPRESS = ["compress", "test_effnet", "--data", "synthetic", "--img-size", "32", "--epochs", "0", "--formats", "onnx",
            "--runs", "300", "--warmup", "5"]


@pytest.fixture(scope="module")
def main_run(tmp_path_factory):
    """main's run directory (the CI artifact a pull request is compared with): test_effnet pruned by half."""
    folder = tmp_path_factory.mktemp("reference")
    (folder / "ref.yaml").write_text(REFERENCE_BUDGET.replace("1.5", "1.02"))
    env = {**os.environ, "EDGEKIT_CACHE": str(tmp_path_factory.getbasetemp() / "edgekit-cache")}  # the tests' cache
    env.pop("EDGEKIT_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "edgekit", *COMPRESS, "--prune", "0.5", "--out", "main"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return folder


def test_compress_against_main_passes_the_same_recipe_and_fails_a_slower_bigger_model(cli, main_run):
    same = cli(*COMPRESS, "--prune", "0.5", "--reference", "main", "--budget", "ref.yaml", "--out", "same",
               cwd=main_run)
    assert same.returncode == 0, same.stderr
    report = json.loads((main_run / "same" / "report.json").read_text())
    versus = report["artifacts"][0]["vs_reference"]
    assert report["gate"]["verdict"] == "pass" and versus["size_growth"] == 1.0 and versus["run"] == "main"
    assert len(versus["latency_ms"]["samples"]) == 300 and 0.9 < versus["ratio"] < 1.1
    assert report["reference"] == {"run": "main", "model": "test_effnet", "edgekit_version": report["edgekit_version"],
                                   "formats": ["onnx"], "missing_formats": []}
    assert "reference" in [s["name"] for s in report["stages"]]

    # the pull request dropped pruning: slower and bigger than main's file, timed interleaved with it in this run
    slower = cli(*COMPRESS, "--reference", "main", "--budget", "ref.yaml", "--out", "slower", cwd=main_run)
    assert slower.returncode == 1, slower.stderr
    gate = json.loads((main_run / "slower" / "report.json").read_text())["gate"]
    assert [(c["limit_key"], c["verdict"]) for c in gate["checks"]] == [
        ("max_latency_ratio_vs_reference", "fail"), ("max_size_growth", "fail")]
    assert gate["checks"][0]["test"]["ci"][0] > 1.1 and "vs reference onnx: latency" in slower.stderr
    assert "## Against the reference" in (main_run / "slower" / "report.md").read_text()
    check = cli("check", "slower/report.json", "--budget", "ref.yaml", cwd=main_run)
    assert check.returncode == 1, check.stderr


def _broken(main_run, name, change):
    target = main_run / name
    if not target.exists():
        shutil.copytree(main_run / "main", target)
        change(target)
    return name


@pytest.mark.parametrize("name, change, fragment", [
    ("nowhere", None, "--reference 'nowhere' does not exist"),
    ("not_a_run", lambda d: (d / "report.json").unlink(), "is not a run directory: it has no report.json"),
    ("edited", lambda d: (d / "test_effnet.onnx").write_bytes(b"other bytes"), "does not match its report.json"),
    ("partial", lambda d: (d / "test_effnet.onnx").unlink(), "its .onnx file 'test_effnet.onnx' (listed in "
                                                             "report.json) is missing"),
    ("garbled", lambda d: (d / "report.json").write_text("{]"), "report 'garbled/report.json' is not valid JSON"),
])
def test_a_bad_reference_is_one_line_before_any_work(cli_fast, main_run, name, change, fragment):
    if change is not None:
        _broken(main_run, name, change)
    result = cli_fast(*COMPRESS, "--reference", name, "--out", "never", cwd=main_run)
    assert_one_line_error(result, fragment)
    assert not (main_run / "never").exists()


def test_reference_budgets_need_a_reference_and_a_shared_format(cli_fast, main_run):
    refused = cli_fast(*COMPRESS, "--budget", "ref.yaml", "--out", "never", cwd=main_run)
    assert_one_line_error(refused, "limits max_latency_ratio_vs_reference, max_size_growth against a reference run, "
                                   "but no --reference RUN_DIR")
    other = [*COMPRESS[:COMPRESS.index("--formats") + 1], "tflite", *COMPRESS[COMPRESS.index("--formats") + 2:]]
    assert_one_line_error(cli_fast(*other, "--reference", "main", "--out", "never", cwd=main_run),
                          "--reference 'main' has no file in this run's formats (tflite); it has: onnx")


def test_the_ci_example_gates_against_main_s_run_directory():
    from pathlib import Path

    import yaml

    from edgekit.bench.budget import REFERENCE_LIMITS, load_budgets

    repo = Path(__file__).resolve().parents[2]
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "edge-budgets.yml").read_text())
    steps = workflow["jobs"]["budgets"]["steps"]
    download = next(s for s in steps if "download-artifact" in s.get("uses", ""))
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert download["with"]["branch"] == "main" and download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["path"] == "runs/main" and upload["with"]["path"] == "runs/ci/"
    commands = " ".join(s.get("run", "") for s in steps)
    assert '--reference runs/main' in commands and "--out runs/ci" in commands
    assert "edgekit check runs/ci/report.json --budget benchmarks/budgets_vs_main.yaml" in commands
    vs_main = load_budgets(repo / "benchmarks" / "budgets_vs_main.yaml")
    assert {key for b in vs_main.budgets for key in b.limits()} <= set(REFERENCE_LIMITS)
