import pytest

from edgekit.bench.budget import Match, load_budgets
from edgekit.core.errors import EdgekitError

GOOD = """
alpha: 0.01
budgets:
  - match: {model: effnet_lite0, format: onnx, precision: int8, device: local}
    max_size_mb: 5
    max_latency_p50_ms: 12
    max_latency_ratio: 0.5
    min_top1: 88.0
    max_top1_drop: 1.0
  - name: every tiny model
    match: {model: "test_*"}
    max_params: 1e6
    max_macs: 100000000
    max_latency_p90_ms: 20
"""


def write(tmp_path, text):
    path = tmp_path / "budgets.yaml"
    path.write_text(text)
    return path


def test_the_documented_shape_loads(tmp_path):
    budgets = load_budgets(write(tmp_path, GOOD))
    first, second = budgets.budgets
    assert budgets.alpha == 0.01 and first.limits()["max_latency_ratio"] == 0.5
    assert second.max_params == 1_000_000 and second.label(1) == "every tiny model"
    assert first.label(0) == "#1 model=effnet_lite0 format=onnx precision=int8 device=local"


def test_globs_match_any_subset():
    match = Match(model="effnet_*", precision="int8")
    assert match.matches({"model": "effnet_lite0", "format": "tflite", "precision": "int8", "device": "local"})
    assert not match.matches({"model": "effnet_lite0", "format": "onnx", "precision": "fp32", "device": "local"})
    assert not match.matches({"model": "mbv3_large", "format": "onnx", "precision": "int8", "device": "local"})
    assert Match().matches({"model": "anything"})


@pytest.mark.parametrize("text, fragment", [
    ("budgets: [{max_size: 5}]", "unknown key 'max_size' at budgets[0].max_size; did you mean 'max_size_mb'?"),
    ("budgets: [{max_latency_p50: 3}]", "did you mean 'max_latency_p50_ms'?"),
    ("budgets: [{match: {modle: x}, max_size_mb: 5}]", "did you mean 'model'?"),
    ("budgets: [{max_size_mb: 5MB}]", "budgets[0].max_size_mb: must be a plain number in MB (got '5MB')"),
    ("budgets: [{max_latency_p50_ms: 12 ms}]", "must be a plain number in ms (got '12 ms')"),
    ("budgets: [{max_size_mb: -5}]", "budgets[0].max_size_mb (MB): Input should be greater than 0"),
    ("budgets: [{min_top1: 101}]", "less than or equal to 100"),
    ("budgets: [{max_latency_ratio: true}]", "must be a plain number"),
    ("budgets: [{max_params: 1.5}]", "max_params"),
    ("budgets: [{match: {model: 3}, max_size_mb: 5}]", "must be a name or glob"),
    ("budgets: []", "at least 1 item"),
    ("budgets: [{match: {model: x}}]", "sets no limit"),
    ("alpha: 0.7\nbudgets: [{max_size_mb: 1}]", "alpha"),
    ("budget: []", "must be a mapping with a 'budgets:' list"),
    ("budgets: [max_size_mb: 1", "is not valid YAML"),
])
def test_bad_budget_files_are_one_line_errors(tmp_path, text, fragment):
    with pytest.raises(EdgekitError) as caught:
        load_budgets(write(tmp_path, text))
    message = str(caught.value)
    assert fragment in message and "\n" not in message and caught.value.exit_code == 2


def test_missing_file(tmp_path):
    with pytest.raises(EdgekitError, match="does not exist"):
        load_budgets(tmp_path / "nope.yaml")


def test_the_project_budgets_and_ci_example_are_valid():
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[2]
    budgets = load_budgets(repo / "benchmarks" / "budgets.yaml")
    assert any(b.match.model == "test_effnet" for b in budgets.budgets)
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "edge-budgets.yml").read_text())
    commands = " ".join(step.get("run", "") for step in workflow["jobs"]["budgets"]["steps"])
    assert "edgekit compress test_effnet" in commands and "--budget benchmarks/budgets.yaml" in commands
    assert "edgekit check runs/ci/report.json" in commands and "--junit" in commands and "--markdown" in commands
