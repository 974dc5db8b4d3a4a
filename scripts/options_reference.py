"""Write docs/options.md, the option reference, from the recipe schema (`python scripts/options_reference.py`).

tests/cli/test_options_reference.py fails when the committed page differs from what this prints.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from edgekit.cli.schema import default_of, field_info, flaggable
from edgekit.core.options import PANELS, SECTIONS
from edgekit.core.recipe import TOP_LEVEL, flag_for

PAGE = Path(__file__).resolve().parents[1] / "docs" / "options.md"
HEADER = """# Options reference

Generated from the recipe schema (`edgekit/core/options.py`, `edgekit/core/recipe.py`) by
`python scripts/options_reference.py`; do not edit by hand.

Every option can be given three ways, later ones winning: in a YAML recipe (`--recipe FILE`, nested by section as
below), with `--set section.field=value` (any field, also those without a flag), or with its flag. Recipes written
before the sections existed (flat keys such as `epochs:` or `prune_criterion:`) still load; the flag column is
also the old flat key with `-` for `_`. An option of a stage that is not in the plan is an error, not ignored.

```yaml
model: effnet_lite0
data:
  source: fashion-mnist
  img_size: 64
prune:
  ratio: 0.3
int8:
  enabled: true
```
"""


def _default(path: str) -> str:
    value = default_of(field_info(path))
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ",".join(value) if value else "none"
    if isinstance(value, dict):
        return "{}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _row(path: str) -> str:
    info = field_info(path)
    flag = f"`{flag_for(path)}`" if flaggable(path) else "(`--set` or recipe)"
    description = info.description or ""
    choices = typing.get_args(info.annotation) if typing.get_origin(info.annotation) is typing.Literal else ()
    if choices:
        description += f"; one of {', '.join(f'`{c}`' for c in choices)}"
    return f"| `{path}` | {flag} | {_default(path)} | {description.replace('|', chr(92) + '|')} |"


def page() -> str:
    lines = [HEADER, "## Run", "", "| key | flag | default | what |", "|---|---|---|---|"]
    lines += [_row(name) for name in TOP_LEVEL if name != "model"]
    for section, model in SECTIONS.items():
        lines += ["", f"## {PANELS[section]} (`{section}`)", "", model.__doc__.strip(), "",
                  "| key | flag | default | what |", "|---|---|---|---|"]
        lines += [_row(f"{section}.{name}") for name in model.model_fields]
    return "\n".join(lines) + "\n"


def main() -> int:
    PAGE.write_text(page())
    print(f"wrote {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
