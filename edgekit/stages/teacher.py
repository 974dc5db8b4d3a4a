"""Build the FP32 model to ship: from a checkpoint, --weights, --pretrained, or trained here (cached)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edgekit.core.io import sha256_file
from edgekit.core.paths import cache_dir
from edgekit.core.recipe import Recipe
from edgekit.core.ui import info
from edgekit.data import DataBundle
from edgekit.models.build import create, probe_forward
from edgekit.models.checkpoint import (
    ModelDescription,
    is_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from edgekit.models.weights import apply_state_dict, read_state_dict
from edgekit.models.zoo import ModelSpec
from edgekit.stages.distributed import barrier, is_main
from edgekit.stages.train import TrainConfig, train

TRAINER_VERSION = 2


@dataclass
class Teacher:
    model: torch.nn.Module
    description: ModelDescription
    metrics: dict


def build_teacher(recipe: Recipe, spec: ModelSpec, img_size: int, num_classes: int, data: DataBundle) -> Teacher:
    """The uncompressed FP32 model every later stage starts from."""
    metrics: dict = {"source": "random-init"}
    if is_checkpoint(Path(recipe.model)):
        model, description = load_checkpoint(Path(recipe.model))
        return Teacher(model, description, {"source": "checkpoint"})
    model = create(spec, num_classes, img_size, pretrained=recipe.pretrained)
    needs_training = not recipe.pretrained
    if recipe.pretrained:
        metrics["source"] = "timm-pretrained"
        needs_training = model.get_classifier() is not None and num_classes != 1000
    if recipe.weights is not None:
        reset = apply_state_dict(model, read_state_dict(recipe.weights), f"--weights '{recipe.weights}'")
        metrics.update(source="weights", head_reinitialised=reset)
        needs_training = bool(reset)
    probe_forward(model, spec, img_size)
    description = ModelDescription(model=spec.name, timm_id=spec.timm_id, num_classes=num_classes,
                                   img_size=img_size, class_names=data.class_names)
    can_train = data.has_labels and data.train is not None and recipe.epochs > 0 and recipe.train_teacher
    if needs_training and can_train:
        metrics.update(_train_cached(model, recipe, spec, img_size, num_classes, data, description))
    elif needs_training:
        why = "the data has no labels" if not data.has_labels else "--epochs is 0"
        info(f"[yellow]warning:[/] {spec.name} is not trained ({metrics['source']}) and {why}: "
             "its accuracy is chance; pass --weights or labelled --data")
        metrics["trained"] = False
    return Teacher(model.eval(), description, metrics)


def train_config(recipe: Recipe) -> TrainConfig:
    """The trainer settings a recipe asks for (shared by the teacher and the distillation stage)."""
    return TrainConfig(epochs=recipe.epochs, lr=recipe.lr, weight_decay=recipe.weight_decay,
                       batch_size=recipe.batch_size, optimizer=recipe.optimizer,
                       label_smoothing=recipe.label_smoothing, warmup_fraction=recipe.warmup_fraction, ema_decay=recipe.ema,
                       clip_grad=recipe.clip_grad, eval_samples=recipe.eval_samples, seed=recipe.seed)


def train_state_path(recipe: Recipe, stage: str) -> Path:
    """Where a stage's resumable state goes: beside the run directory, outside its staging folder."""
    out = recipe.run_dir()
    return out.parent / f".{out.name}.{stage}-state.pt"


def _cache_key(recipe: Recipe, spec: ModelSpec, img_size: int, num_classes: int, data: DataBundle) -> str:
    config = train_config(recipe)
    key = {"timm_id": spec.timm_id, "num_classes": num_classes, "img_size": img_size, "data": data.fingerprint,
           "train": {k: v for k, v in asdict(config).items() if k != "eval_samples"},
           "pretrained": recipe.pretrained, "trainer": TRAINER_VERSION, "torch": torch.__version__,
           "weights": sha256_file(recipe.weights) if recipe.weights else None}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _train_cached(model, recipe, spec, img_size, num_classes, data, description) -> dict:
    directory = cache_dir() / "teachers" / f"{spec.name.replace(':', '_')}-{_cache_key(recipe, spec, img_size, num_classes, data)}"
    if (directory / "model.json").is_file():
        try:
            cached, cached_description = load_checkpoint(directory)
            model.load_state_dict(cached.state_dict())
            info(f"teacher: reusing cached {directory}")
            return {"trained": True, "cached": True, "cache": str(directory), **cached_description.metrics}
        except Exception as exc:  # a damaged cache entry is rebuilt, never trusted
            info(f"[yellow]warning:[/] ignoring damaged teacher cache {directory} ({exc})")
            shutil.rmtree(directory, ignore_errors=True)
    state_path = train_state_path(recipe, "teacher")
    info(f"teacher: training {spec.name}; per-epoch state in {state_path} (continue an interrupted run with "
         f"--resume {state_path})")
    result = train(model, data, train_config(recipe), label=f"teacher {spec.name}", stage="teacher",
                   model_name=spec.name, state_path=state_path if is_main() else None, resume=recipe.resume)
    metrics = {"trained": True, "cached": False, "cache": str(directory), "best_epoch": result.best_epoch,
               "best_val_top1": result.best_top1, "resumed_from_epoch": result.resumed_from_epoch,
               "history": result.history}
    if is_main():
        description.metrics = {k: v for k, v in metrics.items() if k not in ("cached", "cache")}
        staging = directory.with_name(directory.name + f".tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        save_checkpoint(staging, model, description)
        shutil.rmtree(directory, ignore_errors=True)
        staging.replace(directory)
    barrier()
    return metrics
