"""The CLI is generated from the schema: panels per stage, choices, real defaults; every field has a way in."""

import subprocess
import sys

import pytest

from edgekit.cli.run import COMPRESS_OPTIONS
from edgekit.cli.schema import SEPARATOR, all_paths
from edgekit.core.options import PANELS
from edgekit.core.recipe import DOTTED_PATHS


def help_text(*command: str) -> str:
    result = subprocess.run([sys.executable, "-m", "edgekit", *command, "--help"], capture_output=True, text=True,
                            env={"COLUMNS": "200", "PATH": ""}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_compress_help_groups_options_by_stage_with_choices_and_defaults():
    text = help_text("compress")
    for panel in ("Run", *PANELS.values()):
        assert f"─ {panel} " in text, panel
    assert "[l2|taylor|bn-scale|lamp|random]" in text and "[auto|qat|ptq]" in text and "[adamw|sgd]" in text
    assert "[default: 0.005]" in text and "[default: fashion-mnist]" in text and "[default: onnx,tflite,pte]" in text
    assert "--kd-temperature" in text and "--set" in text and "--dry-run" in text


def test_every_schema_field_has_a_flag_or_set():
    flags = {p.name.replace(SEPARATOR, ".") for p in COMPRESS_OPTIONS}
    assert flags == set(all_paths())
    without_flag = set(DOTTED_PATHS) - flags - {"model"}
    assert without_flag == {"prune.ratios"}  # a mapping: --set prune.ratios={...} or the recipe


@pytest.mark.parametrize("command", ["export", "bench", "analyze", "cache"])
def test_other_commands_have_help(command):
    assert "Usage" in help_text(command)
