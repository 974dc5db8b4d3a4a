"""The `edgekit models` listing: params and MACs at each model's default size, cached on disk (for timm
architectures: a plugin's code can change between runs, so its counts are taken each time)."""

from __future__ import annotations

import json

import torch
from rich.table import Table

from edgekit.core.io import atomic_write_json
from edgekit.core.paths import cache_dir
from edgekit.core.ui import narrow_table, progress
from edgekit.models.build import create
from edgekit.models.complexity import count_macs, count_params
from edgekit.models.plugins import FAMILIES
from edgekit.models.zoo import MODELS, ModelSpec


def _stats(spec: ModelSpec) -> dict:
    try:
        with torch.device("meta"):  # shapes only: counts without allocating or initialising weights
            model = create(spec, 1000, spec.img_size)
            return {"params": count_params(model), "macs": count_macs(model, spec.img_size)}
    except Exception:
        if not spec.plugin:
            raise
    model = create(spec, 1000, spec.img_size)  # a plugin's code may need real tensors (a .item(), a numpy call)
    with torch.inference_mode():
        return {"params": count_params(model), "macs": count_macs(model, spec.img_size)}


def catalog() -> list[dict]:
    """One row per registered model, with params/MACs for 1000 classes at its default size."""
    import timm

    path = cache_dir() / f"zoo-stats-timm{timm.__version__}.json"
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    rows = []
    with progress() as bar:
        task = bar.add_task("counting params and MACs", total=len(MODELS), status="")
        for name, spec in MODELS.items():
            key = f"{spec.timm_id}@{spec.img_size}"
            if spec.plugin:
                stats = _stats(spec)
            else:
                stats = cached[key] = cached[key] if key in cached else _stats(spec)
            rows.append({"name": name, "family": spec.family, "timm_id": spec.timm_id, "source": spec.source,
                         "img_size": spec.img_size, "img_multiple": spec.img_multiple, **stats, "notes": spec.notes})
            bar.update(task, advance=1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, cached)
    except OSError:
        pass  # a read-only cache only costs speed
    return rows


def architecture(source: str) -> str:
    """The timm-id column of a model without one: `edgekit MODULE` for edgekit's own families, else the plugin."""
    family, _, module = source.rpartition(".")
    return f"edgekit {module}" if family == FAMILIES else f"plugin {source}"


def catalog_table(rows: list[dict]) -> Table:
    """The `edgekit models` table in 80 columns (one space between columns keeps nearly every row on one line);
    a timm id too long for its column folds onto a second line."""
    table = narrow_table(f"{len(rows)} models (any timm architecture works as timm:<name>)", gap=1)
    table.add_column("name", no_wrap=True)
    table.add_column("family", no_wrap=True)
    table.add_column("timm id", overflow="fold")
    for header in ("size\npx", "params\nM", "GMACs"):
        table.add_column(header, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["name"], r["family"], r["timm_id"] or architecture(r["source"]), str(r["img_size"]),
                      f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e9:.3f}")
    return table
