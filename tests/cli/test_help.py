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
    assert "[default: 0.02]" in text and "[default: fashion-mnist]" in text and "[default: onnx,tflite,pte]" in text
    assert "--kd-temperature" in text and "--set" in text and "--dry-run" in text


def test_every_schema_field_has_a_flag_or_set():
    flags = {p.name.replace(SEPARATOR, ".") for p in COMPRESS_OPTIONS}
    assert flags == set(all_paths())
    without_flag = set(DOTTED_PATHS) - flags - {"model"}
    # mappings: --set prune.ratios={...} or the recipe; teacher.model_args also has compress's --model-arg K=V
    assert without_flag == {"prune.ratios", "teacher.model_args"}
    assert "--model-arg" in help_text("compress")


@pytest.mark.parametrize("command", ["export", "bench", "analyze", "cache"])
def test_other_commands_have_help(command):
    assert "Usage" in help_text(command)


#: compress's flags before the options were generated from the schema: every one must keep working
FLAGS_BEFORE = """--prune --prune-criterion --prune-scope --prune-steps --round-to --prune-ignore --prune-target --int8 --no-int8
--int8-mode --quant-backend --calib-samples --max-drop --qat-epochs --qat-lr --tflite-io --kd --no-kd --data --subset
--img-size --num-classes --epochs --lr --batch-size --optimizer --weight-decay --label-smoothing --warmup-fraction --ema
--clip-grad --resume --kd-temperature --kd-alpha --kd-features --no-kd-features --kd-cache-logits --no-kd-cache-logits
--formats --weights --pretrained --no-pretrained --recipe --budget --out --overwrite --seed --threads --runs --warmup
--warmup-seconds --min-seconds --cpus --eval-samples""".split()


def test_every_flag_of_before_the_redesign_still_exists():
    import typer.main

    from edgekit.cli.app import app
    from edgekit.cli.run import compress  # noqa: F401 - registers the command

    command = typer.main.get_command(app).commands["compress"]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    assert not [flag for flag in FLAGS_BEFORE if flag not in known]
