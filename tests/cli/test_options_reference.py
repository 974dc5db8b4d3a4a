"""docs/options.md is generated from the schema: the test fails when the committed page is stale."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_option_reference_matches_the_schema():
    spec = importlib.util.spec_from_file_location("options_reference", REPO / "scripts" / "options_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (REPO / "docs" / "options.md").read_text()
    assert committed == module.page(), "docs/options.md is stale: run `python scripts/options_reference.py`"
    for flag in ("--prune-criterion", "--kd-temperature", "--quant-backend", "--formats", "--runs", "--budget"):
        assert f"`{flag}`" in committed
