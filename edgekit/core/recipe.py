"""The compress recipe: pydantic-validated, loaded from YAML, overridden by CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgekit.core.errors import EdgekitError, first_line

DEFAULT_FORMATS = ["onnx", "tflite", "pte"]


class Recipe(BaseModel):
    """Everything `edgekit compress` needs; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str
    data: str = "fashion-mnist"
    img_size: int | None = Field(None, description="input size in px (default: the model's)")
    num_classes: int | None = None
    subset: int | None = Field(None, ge=1, description="cap on training images (stratified, seeded)")
    epochs: int = Field(3, ge=0)
    lr: float = Field(5e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    weight_decay: float = Field(0.05, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    warmup_fraction: float = Field(0.05, ge=0, le=1, description="training warm-up share of all steps")
    ema: float | None = Field(None, gt=0, lt=1, description="EMA decay of weights (off when unset)")
    clip_grad: float | None = Field(None, gt=0)
    resume: Path | None = None
    kd_temperature: float = Field(2.0, gt=0)
    kd_alpha: float = Field(0.7, ge=0, le=1)
    kd_features: bool = False
    kd_cache_logits: bool = False
    weights: Path | None = None
    pretrained: bool = False
    prune: float = Field(0.0, ge=0.0, le=0.95)
    prune_criterion: str = "l2"
    prune_scope: str = "uniform"
    prune_steps: int = Field(1, ge=1, le=50)
    round_to: int = Field(8, ge=1)
    prune_ignore: list[str] = Field(default_factory=list, description="layer names/globs kept at full width")
    prune_target: str | None = Field(None, description="macs=F or latency=F: prune until that fraction is reached")
    prune_ratios: dict[str, float] = Field(default_factory=dict, description="layer-name glob -> channel ratio")
    int8: bool = False
    int8_mode: Literal["auto", "qat", "ptq"] = "auto"
    quant_backend: str = Field("auto", description="auto (pt2e; nncf's bias-corrected PTQ for MobileNetV3 and "
                                                   "EfficientNet PTQ) | pt2e | nncf")
    calib_samples: int = Field(256, ge=1, description="calibration images (PTQ, and QAT's initial ranges)")
    max_drop: float | None = Field(None, ge=0, description="top-1 points the int8 file may lose vs FP32")
    qat_epochs: int = Field(1, ge=0)
    qat_lr: float = Field(1e-4, gt=0)
    tflite_io: Literal["int8", "float"] = Field(
        "int8", description="interface of an int8 .tflite: int8 in/out, or float in/out around the integer graph")
    kd: bool | None = None
    budget: Path | None = None
    formats: list[str] = Field(default_factory=lambda: list(DEFAULT_FORMATS))
    out: Path | None = None
    overwrite: bool = False
    seed: int = 0
    threads: int = Field(1, ge=1)
    runs: int = Field(50, ge=1)
    warmup: int = Field(10, ge=0)
    warmup_seconds: float = Field(0.0, ge=0)
    min_seconds: float = Field(0.0, ge=0)
    cpus: str | None = Field(None, description="pin the measuring process, e.g. 0 or 0-3")
    parity_samples: int = Field(32, ge=1)
    eval_samples: int | None = Field(None, ge=1, description="cap on validation images (default: all)")
    parity_atol: float = Field(1e-3, gt=0)
    train_teacher: bool = True
    bench: bool = True

    @field_validator("formats", "prune_ignore", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        """Flags give 'a,b'; YAML may give a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def synthetic_data(self) -> bool:
        """Whether --data is the synthetic set: random images without labels (nothing to train or measure on)."""
        return self.data.split(":")[0] == "synthetic"

    def run_dir(self) -> Path:
        return self.out if self.out is not None else Path("runs") / self.model.replace(":", "_").replace("/", "_")


def load_recipe(path: Path | None, overrides: dict[str, Any]) -> Recipe:
    """Merge a YAML recipe (if any) with CLI overrides (None values mean 'not given')."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise EdgekitError(f"--recipe '{path}' cannot be read ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise EdgekitError(f"--recipe '{path}' is not valid YAML ({first_line(exc)})") from exc
        if not isinstance(loaded, dict):
            raise EdgekitError(f"--recipe '{path}' must be a mapping of option: value")
        values.update({k.replace("-", "_"): v for k, v in loaded.items()})
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("model"):
        raise EdgekitError("name a MODEL (e.g. edgekit compress effnet_lite0), or a --recipe with a 'model:' key")
    try:
        return Recipe(**values)
    except ValidationError as exc:
        raise EdgekitError(describe_validation_error(exc, path)) from exc


def describe_validation_error(exc: ValidationError, source: Path | None) -> str:
    """First pydantic error as one line, with a did-you-mean for unknown keys."""
    import difflib

    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    where = f"recipe '{source}'" if source else "options"
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(Recipe.model_fields), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown key '{key}'{hint}"
    flag = "--" + key.replace("_", "-")
    return f"{where}: {flag}: {err['msg']} (got {err.get('input')!r})"


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
