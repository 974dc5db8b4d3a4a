"""Recovery after pruning: the kd stage distils the student from the FP32 teacher, finetune trains on labels only."""

from __future__ import annotations

import contextlib
import copy

from edgekit.core.errors import EdgekitError
from edgekit.data.batches import fetch, unaugmented
from edgekit.stages import distributed
from edgekit.stages.base import Context, ModelArtifact, Node, Output, Setting, register
from edgekit.stages.distill import Distillation, teacher_logits
from edgekit.stages.model_stage import ModelStage
from edgekit.stages.train import TRAINER_VERSION, TrainConfig, train


def epochs(options) -> float:
    """--recover-epochs, else --epochs."""
    return options.recover.epochs or options.train.epochs


def peak_lr(options) -> float:
    """--recover-lr-base scaled by the batch size, else the training lr (an explicit --lr wins over both)."""
    train, base = options.train, options.recover.lr_base
    if train.lr is not None or base is None:
        return train.peak_lr()
    return base * train.batch_size / 256


class Recover(ModelStage):
    """Fine-tune the pruned student in place of a copy of it; the shared trainer does the work."""

    may_follow = ("prune", "attention")
    version = TRAINER_VERSION
    reads = ("train", "seed", "data.eval_samples", "recover.epochs", "recover.lr_base")
    libraries = ("torch", "timm")
    label = "recover"

    def describe(self, node: Node, setting: Setting) -> str:
        return f"{epochs(node.options)} epoch(s) on {setting.data.n_train:,} images"

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        train_options, n = node.options.train, epochs(node.options)
        return probe.training_seconds(n, setting.data.n_train, setting.data.n_val, node.options.data.eval_samples,
                                      teacher_forward=self.name == "kd", progressive=train_options.progressive)

    def objective(self, node: Node, inputs: dict[str, Output], ctx: Context, student):
        return None

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        data = ctx.data
        if not data.has_labels or data.train is None:
            raise EdgekitError(f"{self.name} after pruning needs labelled --data (or pass --epochs 0)")
        pruned = inputs["model"].model
        student = copy.deepcopy(pruned.module)  # the cached pruned model stays as it was
        options = node.options
        config = TrainConfig.from_options(options.train, seed=options.seed, eval_samples=options.data.eval_samples,
                                          img_size=ctx.setting.img_size, img_multiple=ctx.setting.spec.img_multiple,
                                          epochs=epochs(options), lr=peak_lr(options))
        with self.augmentation(node, data.train):
            result = train(student, data, config, label=self.label, stage=self.name,
                           model_name=pruned.description.model, objective=self.objective(node, inputs, ctx, student),
                           state_path=ctx.state_path(self.name) if distributed.is_main() else None, resume=ctx.resume)
        metrics = {"epochs": config.epochs, "best_epoch": result.best_epoch, "best_val_top1": result.best_top1,
                   **result.speed(), "history": result.history, **self.settings(options)}
        return Output(metrics, ModelArtifact(pruned.description, module=student))

    def settings(self, options) -> dict:
        return {}

    def augmentation(self, node: Node, dataset):
        """The block trains with the dataset's augmentation as it is."""
        return contextlib.nullcontext()


@register
class Kd(Recover):
    name = "kd"
    reads = (*Recover.reads, "recover")
    label = "distill"

    def check(self, node: Node, setting: Setting) -> None:
        recover = setting.recipe.recover
        if recover.features and distributed.world_size() > 1:
            raise EdgekitError("--kd-features runs in one process; drop it or run without torchrun")
        if recover.cache_logits and setting.recipe.train.mixing():
            raise EdgekitError("--kd-cache-logits holds the teacher's logits of unmixed images: it cannot be combined "
                               "with --mixup/--cutmix (drop one)")
        if recover.cache_logits and setting.data.name not in ("fashion-mnist", "cifar10"):
            raise EdgekitError("--kd-cache-logits needs an in-memory dataset (fashion-mnist, cifar10)")

    def objective(self, node: Node, inputs: dict[str, Output], ctx: Context, student) -> Distillation:
        recover, data = node.options.recover, ctx.data
        teacher = inputs["teacher"].model.module
        cached = teacher_logits(teacher, data.train) if recover.cache_logits else None
        example, _ = fetch(data.val, [0])
        return Distillation(teacher, student, example, temperature=recover.temperature, alpha=recover.alpha,
                            label_smoothing=node.options.train.label_smoothing, features=recover.features,
                            cached_logits=cached)

    def augmentation(self, node: Node, dataset):
        """Cached teacher logits are of unaugmented images: the student then trains on those too."""
        return unaugmented(dataset) if node.options.recover.cache_logits else contextlib.nullcontext()

    def settings(self, options) -> dict:
        recover = options.recover
        return {"temperature": recover.temperature, "alpha": recover.alpha, "features": recover.features,
                "cached_logits": recover.cache_logits}


@register
class Finetune(Recover):
    name = "finetune"
    label = "fine-tune"

