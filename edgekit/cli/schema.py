"""CLI options generated from the recipe schema: one flag per field, its help, choices, real default and panel.

`options(paths)` turns recipe paths (`prune.criterion`, `seed`) into Typer parameters; `command(...)` gives a
command function those parameters, and `given(kwargs)` maps the parsed values back to dotted recipe paths.
Values are validated by the schema itself (pydantic), so a wrong value gets the same one-line error (with a
did-you-mean) whether it came from a flag, `--set` or a recipe file.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Literal, Optional

import typer

from edgekit.core.options import PANELS, SECTIONS
from edgekit.core.recipe import Recipe, flag_for

RUN_PANEL = "Run"
SEPARATOR = "__"  # a parameter name is its dotted path with '.' spelt '__'


def field_info(path: str):
    """The pydantic FieldInfo of a recipe path."""
    if "." in path:
        section, name = path.split(".", 1)
        return SECTIONS[section].model_fields[name]
    return Recipe.model_fields[path]


def default_of(info) -> Any:
    return info.default_factory() if info.default_factory is not None else info.default


def _base_type(annotation: Any) -> Any:
    """`int | None` -> int; `Literal[...]`, `list[str]` and `dict` as they are."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        return args[0]
    return annotation


def flaggable(path: str) -> bool:
    """Mappings (prune.ratios) have no flag: they are set in a recipe or with --set."""
    return typing.get_origin(_base_type(field_info(path).annotation)) is not dict


def option(path: str, **overrides) -> inspect.Parameter:
    """The Typer parameter of one recipe path, showing the schema's real default.

    Only values given on the command line reach the recipe (`given`), so a recipe file is never overridden by a
    default; values are validated by the schema, not by click.
    """
    info = field_info(path)
    base = _base_type(info.annotation)
    flag = flag_for(path)
    default = overrides.pop("default", default_of(info))
    metavar = None
    if typing.get_origin(base) is Literal:
        metavar = "[" + "|".join(str(v) for v in typing.get_args(base)) + "]"
        kind: Any = str  # the schema validates, with a did-you-mean
    elif typing.get_origin(base) is list:
        kind, default = str, ",".join(default) if default else None
    elif base is bool:
        kind, flag = bool, f"{flag}/--no-{flag[2:]}"
    else:
        kind = base if base in (int, float, str, Path) else str
    panel = overrides.pop("panel", PANELS.get(path.split(".")[0], RUN_PANEL) if "." in path else RUN_PANEL)
    spec = typer.Option(flag, help=overrides.pop("help", info.description), metavar=metavar, rich_help_panel=panel,
                        show_default=default is not None, **overrides)
    return inspect.Parameter(path.replace(".", SEPARATOR), inspect.Parameter.KEYWORD_ONLY,
                             annotation=Annotated[Optional[kind], spec], default=default)


def options(paths: Iterable[str]) -> list[inspect.Parameter]:
    return [option(path) for path in paths if flaggable(path)]


def all_paths() -> list[str]:
    """Every recipe path with a flag, top-level first, then section by section."""
    top = [name for name in Recipe.model_fields if name not in SECTIONS and name != "model"]
    return [*top, *(f"{s}.{f}" for s, model in SECTIONS.items() for f in model.model_fields if flaggable(f"{s}.{f}"))]


def command(func: Callable, parameters: list[inspect.Parameter]) -> Callable:
    """`func(ctx, ..., **kwargs)` with a signature Typer reads: its own parameters, then the generated ones."""
    own = [p for p in inspect.signature(func, eval_str=True).parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params = [*own, *parameters]
    func.__signature__ = inspect.Signature(params)
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func


def given(ctx: typer.Context, kwargs: dict[str, Any], parameters: list[inspect.Parameter]) -> dict[str, Any]:
    """The generated options given on the command line, as {dotted path: value}; defaults are left out."""
    return {p.name.replace(SEPARATOR, "."): kwargs[p.name] for p in parameters
            if ctx.get_parameter_source(p.name).name not in ("DEFAULT", "DEFAULT_MAP")}
