"""The teacher stage: the uncompressed FP32 model every later stage starts from.

From a checkpoint directory, --weights, --pretrained or a fresh initialisation; trained on the data when it needs
it (no weights, or a classifier for another class count) and the data can train.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgekit.core.errors import UNTRACEABLE, EdgekitError, UntraceableModel
from edgekit.core.io import sha256_file
from edgekit.core.ui import info, quiet_trace
from edgekit.exporters.base import trace_failure
from edgekit.models.build import create, meta_model, probe_forward
from edgekit.models.checkpoint import (
    DESCRIPTION_FILE,
    WEIGHTS_FILE,
    ModelDescription,
    load_checkpoint,
)
from edgekit.models.plugins import fingerprint
from edgekit.models.weights import apply_state_dict, head_to_reset, read_state_dict
from edgekit.stages import distributed
from edgekit.stages.base import Context, ModelArtifact, Node, Output, Setting, register
from edgekit.stages.model_stage import ModelStage
from edgekit.stages.train import TRAINER_VERSION, TrainConfig, train

IMAGENET_CLASSES = 1000


def needs_training(setting: Setting) -> bool:
    """Whether the teacher's weights leave anything to learn: no weights at all, or a head for other classes."""
    recipe = setting.recipe
    if setting.checkpoint is not None:
        return False
    if recipe.teacher.pretrained:
        return setting.num_classes != IMAGENET_CLASSES
    if recipe.teacher.weights is None:
        return True
    probe = meta_model(setting.spec, setting.num_classes, setting.img_size)
    return bool(head_to_reset(probe, read_state_dict(recipe.teacher.weights), f"--weights '{recipe.teacher.weights}'"))


def will_train(setting: Setting) -> bool:
    """The teacher trains when it needs to and the data and options allow it."""
    recipe = setting.recipe
    return (needs_training(setting) and setting.data.labelled and recipe.train.epochs > 0
            and recipe.teacher.train)


def traced_targets(setting: Setting) -> list[str]:
    """What needs the model traced by torch.export: INT8 (PT2E) and every format but ONNX (which falls back to the
    TorchScript exporter)."""
    return (["int8"] if setting.recipe.int8.enabled else []) + [f.name for f in setting.formats if f.name != "onnx"]


def check_traceable(model: torch.nn.Module, name: str, img_size: int, targets: list[str]) -> None:
    """Raise `UntraceableModel` (one line: the cause and the model's line) when torch.export cannot trace `model`
    for `targets`; a plugin model is checked before the teacher trains, so a long training run does not end in
    files that cannot be written."""
    if not targets:
        return
    was_training = model.training
    try:
        with quiet_trace():
            torch.export.export(model.eval(), (torch.randn(2, 3, img_size, img_size),))
    except Exception as exc:  # noqa: BLE001 - one line for the user
        raise UntraceableModel(f"{name}: {UNTRACEABLE} {', '.join(targets)} (checked before training): "
                               f"{trace_failure(exc)}") from exc
    finally:
        model.train(was_training)


@register
class Teacher(ModelStage):
    name = "teacher"
    version = TRAINER_VERSION
    reads = ("data.source", "data.img_size", "data.subset", "data.num_classes", "teacher", "seed")
    libraries = ("torch", "timm")

    def reads_for(self, setting: Setting, node: Node) -> tuple[str, ...]:
        """Training reads the trainer's options and the validation cap (the best epoch is chosen on it)."""
        return (*self.reads, "train", "data.eval_samples") if setting.teacher_trains else self.reads

    def identity(self, node: Node, setting: Setting) -> dict:
        source: dict = {"model": setting.spec.name, "timm_id": setting.spec.timm_id, "img_size": setting.img_size,
                        "num_classes": setting.num_classes, "data": setting.data.fingerprint}
        if setting.spec.plugin:  # a plugin's code is no library version: its file's hash keys the cache
            source["plugin"] = {"factory": setting.spec.arch, "code": fingerprint(setting.spec)}
        if setting.checkpoint is not None:
            folder = Path(setting.recipe.model)
            source["checkpoint"] = [sha256_file(folder / name) for name in (WEIGHTS_FILE, DESCRIPTION_FILE)]
        elif setting.recipe.teacher.weights is not None:
            source["weights"] = sha256_file(setting.recipe.teacher.weights)
        return source

    def describe(self, node: Node, setting: Setting) -> str:
        if setting.checkpoint is not None:
            return "load the checkpoint"
        if not setting.teacher_trains:
            teacher = setting.recipe.teacher
            return "pretrained weights" if teacher.pretrained else "load --weights" if teacher.weights else \
                "random init (untrained)"
        return f"train {node.options.train.epochs} epoch(s) on {setting.data.n_train:,} images"

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        if not setting.teacher_trains:
            return 0.0
        train = node.options.train
        return probe.training_seconds(train.epochs, setting.data.n_train, setting.data.n_val,
                                      node.options.data.eval_samples, progressive=train.progressive)

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        setting, options = ctx.setting, node.options
        if setting.checkpoint is not None:
            model, description = load_checkpoint(Path(setting.recipe.model))
            return Output({"source": "checkpoint"}, ModelArtifact(description, module=model))
        torch.manual_seed(options.seed)
        spec = setting.spec
        drop_path = options.train.drop_path if setting.teacher_trains else 0.0
        model = create(spec, setting.num_classes, setting.img_size, pretrained=options.teacher.pretrained,
                       drop_path=drop_path)
        pretrained = "plugin-pretrained" if spec.plugin else "timm-pretrained"
        metrics: dict = {"source": pretrained if options.teacher.pretrained else "random-init"}
        if options.teacher.weights is not None:
            reset = apply_state_dict(model, read_state_dict(options.teacher.weights),
                                     f"--weights '{options.teacher.weights}'")
            metrics.update(source="weights", head_reinitialised=reset)
        probe_forward(model, spec, setting.img_size)
        data = ctx.data
        description = ModelDescription(model=spec.name, timm_id=spec.timm_id, num_classes=setting.num_classes,
                                       img_size=setting.img_size, class_names=data.class_names, source=spec.source,
                                       model_args=dict(spec.args))
        if setting.teacher_trains:
            if spec.plugin:  # a user's model: find out now, not after training, whether the files can be written
                check_traceable(model, spec.name, setting.img_size, traced_targets(setting))
            metrics.update(self._train(model, options, ctx, data))
        elif needs_training(setting):
            why = "the data has no labels" if not data.has_labels else "--epochs is 0 or --no-train-teacher"
            info(f"[yellow]warning:[/] {spec.name} is not trained ({metrics['source']}) and {why}: "
                 "its accuracy is chance; pass --weights or labelled --data")
            metrics["trained"] = False
        description.metrics = {k: v for k, v in metrics.items() if k != "history"}
        return Output(metrics, ModelArtifact(description, module=model.eval()))

    def _train(self, model: torch.nn.Module, options, ctx: Context, data) -> dict:
        state_path = ctx.state_path(self.name)
        info(f"teacher: training {ctx.setting.spec.name}; per-epoch state in {state_path} (continue an "
             f"interrupted run with --resume {state_path})")
        config = TrainConfig.from_options(options.train, seed=options.seed, eval_samples=options.data.eval_samples,
                                          img_size=ctx.setting.img_size, img_multiple=ctx.setting.spec.img_multiple)
        result = train(model, data, config, label=f"teacher {ctx.setting.spec.name}", stage=self.name,
                       model_name=ctx.setting.spec.name, state_path=state_path if distributed.is_main() else None,
                       resume=ctx.resume)
        return {"trained": True, "best_epoch": result.best_epoch, "best_val_top1": result.best_top1,
                "resumed_from_epoch": result.resumed_from_epoch, **result.speed(), "history": result.history}

    def check(self, node: Node, setting: Setting) -> None:
        weights = setting.recipe.teacher.weights
        if weights is not None and setting.checkpoint is not None:
            raise EdgekitError(f"'{setting.recipe.model}' is a checkpoint with its own weights; drop --weights")
        if setting.checkpoint is not None and setting.recipe.teacher.pretrained:
            raise EdgekitError(f"'{setting.recipe.model}' is a checkpoint with its own weights; drop --pretrained")
