"""`edgekit analyze MODEL --sensitivity`: build the model and data, run the sensitivity sweep, write table + plot."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.io import atomic_write_json


def parse_ratios(text: str) -> list[float]:
    try:
        ratios = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise EdgekitError(f"--ratios '{text}' must be a comma list of fractions, e.g. 0.1,0.3,0.5") from None
    if not ratios or not all(0 < r < 1 for r in ratios):
        raise EdgekitError(f"--ratios '{text}': every ratio must be in (0, 1)")
    return ratios


def load_model(name: str, img_size: int | None, weights: Path | None, num_classes: int | None):
    """A checkpoint directory (its img size), or a zoo/timm name with optional --weights."""
    from edgekit.models.build import check_img_size, create
    from edgekit.models.checkpoint import is_checkpoint, load_checkpoint
    from edgekit.models.zoo import resolve

    if is_checkpoint(Path(name)):
        model, description = load_checkpoint(Path(name))
        if img_size not in (None, description.img_size):
            raise EdgekitError(f"checkpoint '{name}' was built for {description.img_size} px, not {img_size}")
        return model, resolve(description.model), description.img_size, description.num_classes
    spec = resolve(name)
    size = img_size or spec.img_size
    check_img_size(spec, size)
    model = create(spec, num_classes or 1000, size)
    if weights is not None:
        from edgekit.models.weights import apply_state_dict, read_state_dict

        apply_state_dict(model, read_state_dict(weights), f"--weights '{weights}'")
    return model.eval(), spec, size, num_classes or 1000


def run_analysis(name: str, data_spec: str, img_size: int | None, ratios_text: str, out: Path | None,
                 weights: Path | None = None, samples: int = 64, round_to: int = 8, ignore: list[str] | None = None,
                 seed: int = 0) -> tuple[dict, Path]:
    from edgekit.data import check_data_spec, load_data
    from edgekit.models.build import preprocessing
    from edgekit.pruning.sensitivity import analyze, plot

    ratios = parse_ratios(ratios_text)
    check_data_spec(data_spec)
    torch.manual_seed(seed)
    model, spec, size, classes = load_model(name, img_size, weights, None)
    data = load_data(data_spec, size, preprocessing(model), None, seed)
    n = min(samples, len(data.val))
    images = torch.stack([data.val[i][0] for i in range(n)])
    labels = None
    if data.has_labels and data.num_classes == classes:
        labels = torch.tensor([int(data.val[i][1]) for i in range(n)])
    result = analyze(model, images, labels, ratios, round_to=round_to, ignore=ignore)
    result.update(model=spec.name, img_size=size, data=data.name, samples=n)
    out = Path(out) if out is not None else Path("runs") / f"{spec.name.replace(':', '_')}-sensitivity"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "sensitivity.json", result)
    plot(result, out / "sensitivity.png", f"{spec.name} @ {size} px: cost of pruning each group alone ({data.name})")
    return result, out


def table(result: dict):
    from rich.table import Table

    metric = "top-1 drop (points)" if result["metric"] == "top1_drop_points" else "output distortion"
    t = Table(title=f"{result['model']} sensitivity: {metric} per group, {result['samples']} images")
    t.add_column("group")
    t.add_column("channels", justify="right")
    for r in result["ratios"]:
        t.add_column(f"ratio {r}", justify="right")
    for g in sorted(result["groups"], key=lambda g: -max([v for v in g["cost"].values() if v is not None] or [0])):
        t.add_row(g["group"], str(g["channels"]), *("-" if g["cost"][str(r)] is None else f"{g['cost'][str(r)]:.4g}"
                                                    for r in result["ratios"]))
    return t


def dumps(result: dict) -> str:
    return json.dumps(result, indent=2)
