"""The compress recipe: nested per-stage sections, loaded from YAML, `--set` and flags, each validated by pydantic.

Precedence: recipe file < `--set section.field=value` < flags. The recipe keys of before the nesting (`epochs`,
`prune_criterion`, …) still load; they are mapped onto their section and named in one note.
"""

from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.io import read_yaml
from edgekit.core.options import (
    SECTIONS,
    AttentionOptions,
    BenchOptions,
    BudgetOptions,
    DataOptions,
    ExportOptions,
    Int8Options,
    PruneOptions,
    RecoverOptions,
    TeacherOptions,
    TrainOptions,
    flat_name,
    option,
)


class Recipe(BaseModel):
    """Everything `edgekit compress` needs: the model, run settings and one section per stage group."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str = Field(description="zoo name (see `edgekit models`), timm:<name>, or a checkpoint directory")
    model_module: list[str] = option(list, "comma list of modules whose @edgekit.register_model functions register "
                                           "models (import names or .py files; installed plugins load themselves)")
    out: Path | None = option(None, "run directory (default runs/<model>)")
    overwrite: bool = option(False, "replace an existing run directory")
    seed: int = option(0, "seed of data subsets, augmentation, initialisation and training")
    cache: bool = option(True, "reuse stage outputs from the content-addressed cache ($EDGEKIT_CACHE)")
    refresh: list[str] = option(list, "comma list of stages to recompute even when cached (e.g. bench)")
    resume: Path | None = option(None, "continue a training stage from its state file (.<run>.<stage>-state.pt)")
    reference: Path | None = option(None, "an earlier run directory (e.g. main's CI artifact): its files of this "
                                    "run's formats are timed interleaved with this run's; budgets *_vs_reference, "
                                    "max_size_growth")
    data: DataOptions = Field(default_factory=DataOptions)
    teacher: TeacherOptions = Field(default_factory=TeacherOptions)
    train: TrainOptions = Field(default_factory=TrainOptions)
    prune: PruneOptions = Field(default_factory=PruneOptions)
    attention: AttentionOptions = Field(default_factory=AttentionOptions)
    recover: RecoverOptions = Field(default_factory=RecoverOptions)
    int8: Int8Options = Field(default_factory=Int8Options)
    export: ExportOptions = Field(default_factory=ExportOptions)
    bench: BenchOptions = Field(default_factory=BenchOptions)
    budget: BudgetOptions = Field(default_factory=BudgetOptions)

    @field_validator("refresh", "model_module", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _cross_section_rules(self) -> "Recipe":
        compressing = self.prune.enabled() or self.int8.enabled or self.attention.enabled()
        if self.recover.kd and not compressing:
            raise ValueError("--kd distils a compressed student from the FP32 teacher: combine it with --prune R "
                             "(or --prune-target), --int8 or --attention K")
        synthetic = self.data.synthetic()
        if self.recover.kd and synthetic:
            raise ValueError("--kd needs labelled --data (synthetic data has no labels to distil on); drop --kd or "
                             "pass --data fashion-mnist or a labelled folder")
        if self.int8.enabled and synthetic and self.int8.mode == "qat":
            raise ValueError("--int8 qat needs labelled --data: synthetic data allows PTQ only (--int8 ptq), and "
                             "the int8 accuracy stays unmeasured")
        if self.int8.enabled and synthetic and self.int8.max_drop is not None:
            raise ValueError("--max-drop needs labelled --data: the drop is top-1 measured on the validation split")
        if "tflite_io" in self.export.model_fields_set and self.export.tflite_io != "int8":
            if not self.int8.enabled:
                raise ValueError("--tflite-io sets the interface of an int8 .tflite file: add --int8")
            if "tflite" not in self.export.formats:
                raise ValueError("--tflite-io sets the .tflite file's interface: add tflite to --formats")
        if "onnx_int8_weights" in self.export.model_fields_set and self.export.onnx_int8_weights != "auto":
            if not self.int8.enabled:
                raise ValueError("--onnx-int8-weights sets how an int8 .onnx stores its weights: add --int8")
            if "onnx" not in self.export.formats:
                raise ValueError("--onnx-int8-weights sets the .onnx file's weights: add onnx to --formats")
        return self

    def run_dir(self) -> Path:
        return self.out if self.out is not None else Path("runs") / self.model.replace(":", "_").replace("/", "_")

    def set_paths(self) -> list[str]:
        """The `section.field` (and top-level) options the user set, whatever the source."""
        paths = [name for name in self.model_fields_set if name not in SECTIONS]
        for section in SECTIONS:
            paths += [f"{section}.{field}" for field in getattr(self, section).model_fields_set]
        return sorted(paths)


TOP_LEVEL = tuple(name for name in Recipe.model_fields if name not in SECTIONS)
#: pre-nesting key -> (section, field)
FLAT_KEYS: dict[str, tuple[str, str]] = {flat_name(s, f): (s, f) for s, model in SECTIONS.items()
                                         for f in model.model_fields}
DOTTED_PATHS = [*TOP_LEVEL, *(f"{s}.{f}" for s, model in SECTIONS.items() for f in model.model_fields)]


def flag_for(path: str) -> str:
    """The CLI flag of a dotted option path (`prune.criterion` -> `--prune-criterion`)."""
    if "." not in path:
        return "--" + path.replace("_", "-")
    section, field = path.split(".", 1)
    return "--" + flat_name(section, field).replace("_", "-")


def nest(values: dict[str, Any], source: str, legacy: list[str] | None = None) -> dict[str, Any]:
    """A recipe mapping (nested sections, dotted keys or pre-nesting flat keys) as nested sections.

    Pre-nesting keys found are appended to `legacy` as 'old -> new'; unknown keys raise with a did-you-mean.
    """
    nested: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        if key in SECTIONS and isinstance(value, dict):
            for field, inner in value.items():
                _put(nested, key, str(field).replace("-", "_"), inner, source)
        elif key in TOP_LEVEL:
            nested[key] = value
        elif "." in key and key.split(".", 1)[0] in SECTIONS:
            _put(nested, *key.split(".", 1), value, source)
        elif key in FLAT_KEYS:
            section, field = FLAT_KEYS[key]
            if legacy is not None:
                legacy.append(f"{key} -> {section}.{field}")
            _put(nested, section, field, value, source)
        else:
            raise EdgekitError(f"{source}: unknown key '{raw_key}'{_did_you_mean(key)}")
    return nested


def _put(nested: dict, section: str, field: str, value: Any, source: str) -> None:
    field, _, key = field.partition(".")  # 'teacher.model_args.threshold': one key of a mapping option
    fields = SECTIONS[section].model_fields
    if key and field in fields and typing.get_origin(fields[field].annotation) is dict:
        mapping = nested.setdefault(section, {}).setdefault(field, {})
        if key in mapping and mapping[key] != value:
            raise EdgekitError(f"{source}: {section}.{field}.{key} is given twice ({mapping[key]!r} and {value!r})")
        mapping[key] = value
        return
    field = f"{field}.{key}" if key else field
    if field not in SECTIONS[section].model_fields:
        raise EdgekitError(f"{source}: unknown key '{section}.{field}'{_section_hint(section, field)}")
    target = nested.setdefault(section, {})
    if field in target and target[field] != value:
        raise EdgekitError(f"{source}: {section}.{field} is given twice ({target[field]!r} and {value!r})")
    target[field] = value


def _section_hint(section: str, field: str) -> str:
    """'; it belongs in train (train.epochs)' when another section has the field, else a did-you-mean."""
    owners = [s for s, model in SECTIONS.items() if field in model.model_fields and s != section]
    if owners:
        return f"; '{field}' belongs in section '{owners[0]}' ({owners[0]}.{field})"
    return _did_you_mean(f"{section}.{field}")


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, [*DOTTED_PATHS, *FLAT_KEYS], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else " (see docs/options.md)"


def parse_set(assignments: list[str]) -> dict[str, Any]:
    """`--set prune.steps=3` (repeatable) as nested sections; values are read as YAML scalars or lists."""
    values: dict[str, Any] = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise EdgekitError(f"--set '{text}' must be KEY=VALUE, e.g. --set prune.steps=3")
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise EdgekitError(f"--set '{text}': the value is not valid YAML ({first_line(exc)})") from exc
    return nest(values, "--set")


def read_recipe_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """A YAML recipe as nested sections, and the pre-nesting keys it used."""
    loaded = read_yaml(path, f"--recipe '{path}'")
    if not isinstance(loaded, dict):
        raise EdgekitError(f"--recipe '{path}' must be a mapping of sections and options")
    legacy: list[str] = []
    return nest(loaded, f"recipe '{path}'", legacy), legacy


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win, section by section."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in SECTIONS and isinstance(value, dict):
                section = merged.setdefault(key, {})
                for field, inner in value.items():  # a mapping option (teacher.model_args) merges key by key
                    both = isinstance(inner, dict) and isinstance(section.get(field), dict)
                    section[field] = {**section[field], **inner} if both else inner
            else:
                merged[key] = value
    return merged


def load_recipe(path: Path | None = None, flags: dict[str, Any] | None = None,
                assignments: list[str] | None = None) -> tuple[Recipe, list[str]]:
    """Recipe file < --set < flags (dotted or flat keys; None means 'not given'); returns the recipe and the
    pre-nesting keys the file used (for a one-line note)."""
    from_file, legacy = read_recipe_file(path) if path is not None else ({}, [])
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    values = merge(from_file, parse_set(assignments or []), nest(given, "options"))
    if not values.get("model"):
        raise EdgekitError("name a MODEL (e.g. edgekit compress effnet_lite0), or a --recipe with a 'model:' key")
    try:
        return Recipe.model_validate(values), legacy
    except ValidationError as exc:
        raise EdgekitError(describe_validation_error(exc, path)) from exc


def describe_validation_error(exc: ValidationError, source: Path | None = None) -> str:
    """The first pydantic error as one line: the flag, the problem, what was given, and a did-you-mean."""
    err = exc.errors()[0]
    where = f"recipe '{source}': " if source else ""
    path = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if not path or (err["type"] == "value_error" and message.startswith("--")):
        return where + message  # a rule of our own: its message names the flags
    if err["type"] == "extra_forbidden":
        return f"{where}unknown key '{path}'{_did_you_mean(path)}"
    if err["type"] == "literal_error":
        choices = [str(c) for c in typing.get_args(_annotation(path))]
        close = difflib.get_close_matches(str(err.get("input")), choices, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}{flag_for(path)}: {err.get('input')!r} is not one of {', '.join(choices)}{hint}"
    if err["type"] == "value_error":
        return f"{where}{flag_for(path)}: {message}"
    return f"{where}{flag_for(path)}: {message} (got {err.get('input')!r})"


def _annotation(path: str):
    section, _, name = path.partition(".")
    return SECTIONS[section].model_fields[name].annotation if name else Recipe.model_fields[section].annotation


def check_writable_out(out: Path, overwrite: bool) -> None:
    """Refuse an existing run directory (unless overwrite) and an unwritable location."""
    if out.exists() and not overwrite:
        raise EdgekitError(f"--out '{out}' already exists; pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"--out '{out}' exists and is not a directory")
    ancestor = out.parent.resolve()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EdgekitError(f"--out '{out}' cannot be created: '{ancestor}' is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise EdgekitError(f"--out '{out}' is not writable (no write permission on '{ancestor}')")
