"""Shared command line of the per-model matrix scripts: which zoo models, at which input size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(doc: str, default_models: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=default_models, help="comma list, or 'all'")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--update", action="store_true", help="keep the other models' rows of the last results")
    return parser.parse_args()


def models_and_sizes(models: str, img_size: int) -> list[tuple[str, int]]:
    """(name, size) per model: `img_size` where the architecture takes it, else its default size."""
    from edgekit.models import MODELS

    names = [n for n in MODELS.names() if not n.startswith("test_")] if models == "all" else models.split(",")
    pairs = []
    for name in names:
        spec = MODELS.get(name)
        pairs.append((name, img_size if img_size % spec.img_multiple == 0 else spec.img_size))
    return pairs


def last_line(stderr: str, limit: int = 300) -> str:
    """The one-line reason a failed command gave: its last stderr line ("?" when it printed none)."""
    return (stderr.strip().splitlines() or ["?"])[-1][:limit]


def previous_rows(path: Path, update: bool) -> list[dict]:
    """The rows of `path` when updating (other models' rows survive a partial rerun), else none."""
    return json.loads(path.read_text()) if update and path.is_file() else []


def upsert(rows: list[dict], row: dict) -> None:
    """Replace `row`'s model in `rows` (or add it), keeping zoo order whatever order the models ran in."""
    from edgekit.models import MODELS

    at = next((i for i, r in enumerate(rows) if r["model"] == row["model"]), None)
    if at is None:
        rows.append(row)
    else:
        rows[at] = row
    order = {name: i for i, name in enumerate(MODELS.names())}
    rows.sort(key=lambda r: order.get(r["model"], len(order)))
    print(json.dumps(row), flush=True)
