"""Print the README's model and format tables from the registries (python scripts/readme_tables.py)."""

from edgekit.core.formats import FORMATS
from edgekit.models.catalog import catalog


def main() -> None:
    print("| name | family | timm architecture | default px | params (M) | GMACs |")
    print("|---|---|---|---|---|---|")
    for r in catalog():
        arch = f"`{r['timm_id']}`" if r["timm_id"] else f"edgekit `{r['source'].rpartition('.')[2]}`"
        print(f"| `{r['name']}` | {r['family']} | {arch} | {r['img_size']} | {r['params'] / 1e6:.2f} | "
              f"{r['macs'] / 1e9:.3f} |")
    print()
    print("| format | file | runtime that verifies it | pip extra | what |")
    print("|---|---|---|---|---|")
    for name, spec in FORMATS.items():
        print(f"| `{name}` | `{spec.suffix}` | {spec.runtime} | `{spec.extra}` | {spec.description} |")


if __name__ == "__main__":
    main()
