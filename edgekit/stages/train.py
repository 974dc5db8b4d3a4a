"""The one trainer behind teacher fine-tuning, distillation and (later) QAT.

timm's AdamW or SGD (no weight decay on norms and biases) and cosine schedule with linear warm-up, label
smoothing, optional EMA and gradient clipping, channels-last, validation every epoch with best-epoch selection,
atomic per-epoch state for `--resume`, and data parallelism under torchrun (each rank takes an equal slice of
every global batch, so results match one process).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from timm.optim import create_optimizer_v2, param_groups_weight_decay
from timm.scheduler import CosineLRScheduler

from edgekit.bench.accuracy import topk_correct
from edgekit.core.ui import info, progress
from edgekit.data import DataBundle
from edgekit.data.batches import fetch, set_epoch
from edgekit.stages import distributed as dist
from edgekit.stages.train_state import check_compatible, fingerprint, read_state, save_state

#: bump when the same settings train to different weights: it keys every training stage's cache entry, and a
#: resumable state of another trainer version is refused
TRAINER_VERSION = 3


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    lr: float = 5e-3
    weight_decay: float = 0.05
    batch_size: int = 64
    optimizer: str = "adamw"
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.05
    ema_decay: float | None = None
    clip_grad: float | None = None
    eval_samples: int | None = None
    seed: int = 0

    @classmethod
    def from_options(cls, train, *, seed: int, eval_samples: int | None, **changes) -> "TrainConfig":
        """The trainer settings of a recipe's `train` section (with per-stage `changes`, e.g. QAT's epochs)."""
        values = dict(epochs=train.epochs, lr=train.lr, weight_decay=train.weight_decay, batch_size=train.batch_size,
                      optimizer=train.optimizer, label_smoothing=train.label_smoothing,
                      warmup_fraction=train.warmup_fraction, ema_decay=train.ema, clip_grad=train.clip_grad,
                      eval_samples=eval_samples, seed=seed)
        return cls(**{**values, **changes})


@dataclass
class TrainResult:
    history: list[dict]
    best_epoch: int | None
    best_top1: float | None
    resumed_from_epoch: int = 0


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The global shuffled batches of one epoch (full batches only), identical on every rank."""
    order = np.random.default_rng((seed, epoch)).permutation(n)
    return [order[i:i + batch_size].tolist() for i in range(0, n - batch_size + 1, batch_size)]


def _optimizer(model: torch.nn.Module, extras: list[torch.nn.Module], config: TrainConfig) -> torch.optim.Optimizer:
    """timm's optimizer for the model and the objective's extra modules, without weight decay on norm and bias
    parameters (nor on what the model's `no_weight_decay` names); SGD with Nesterov momentum 0.9."""
    optimizer = create_optimizer_v2(model, opt=config.optimizer, lr=config.lr, weight_decay=config.weight_decay,
                                    momentum=0.9)
    for module in extras:
        for group in param_groups_weight_decay(module, config.weight_decay):
            optimizer.add_param_group(group)
    return optimizer


def _schedule(optimizer: torch.optim.Optimizer, steps: int, warmup_fraction: float) -> CosineLRScheduler:
    """Linear warm-up from 0 to the peak lr over `warmup_fraction` of the steps, then cosine decay to 0; stepped
    with the number of updates done (`step_update`)."""
    warmup = int(steps * warmup_fraction)
    return CosineLRScheduler(optimizer, t_initial=max(1, steps - warmup), warmup_t=warmup, warmup_prefix=True,
                             t_in_epochs=False)


class Objective:
    """Cross-entropy with label smoothing; subclasses (distillation) add terms."""

    def __init__(self, label_smoothing: float):
        self.ce = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def modules(self) -> list[torch.nn.Module]:
        """Extra trainable modules (e.g. feature projections) to optimise with the model."""
        return []

    def loss(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, indices: list[int]):
        logits = model(images)
        return self.ce(logits, labels), logits


def train(model: torch.nn.Module, data: DataBundle, config: TrainConfig, *, label: str, stage: str = "train",
          model_name: str = "", objective: Objective | None = None, state_path: Path | None = None,
          resume: Path | None = None) -> TrainResult:
    """Train `model` in place on `data.train`, validating every epoch; returns the per-epoch history."""
    objective = objective or Objective(config.label_smoothing)
    torch.manual_seed(config.seed)
    batches_per_epoch = len(data.train) // config.batch_size
    steps = max(1, config.epochs * batches_per_epoch)
    extras = objective.modules()
    trainable = torch.nn.ModuleList([model, *extras])
    optimizer = _optimizer(model, extras, config)
    scheduler = _schedule(optimizer, steps, config.warmup_fraction)
    ema = _ema(model, config.ema_decay)
    arch = fingerprint(model)
    settings = {**{k: v for k, v in asdict(config).items() if k != "eval_samples"}, "trainer": TRAINER_VERSION}
    history, best = [], {"epoch": None, "top1": None, "state": None}
    start_epoch = 0
    payload = read_state(resume) if resume is not None else None
    if payload is not None and payload.get("stage") == stage:  # a state of another stage waits for that stage
        check_compatible(payload, resume, model_name=model_name, stage=stage, arch=arch, config=settings)
        start_epoch = _restore(payload, model, trainable, optimizer, scheduler, ema, best)
        history = json.loads(payload["history"])
        info(f"{label}: resuming after epoch {start_epoch} from {resume}")
    runner = _parallel(model, trainable)
    with progress() as bar:
        task = bar.add_task(label, total=steps, completed=start_epoch * batches_per_epoch, status="")
        for epoch in range(start_epoch, config.epochs):
            record = _epoch(runner, model, objective, data, config, optimizer, scheduler, ema, epoch, bar, task)
            evaluated = ema.module if ema is not None else model
            if dist.is_main():
                record.update(_validate(evaluated, data, config))
            history.append(record)
            top1 = record.get("val_top1")
            if top1 is not None and (best["top1"] is None or top1 > best["top1"]):
                best.update(epoch=epoch + 1, top1=top1, state=copy.deepcopy(evaluated.state_dict()))
            if state_path is not None and dist.is_main():
                save_state(state_path, _payload(model, trainable, optimizer, scheduler, ema, best, epoch + 1,
                                                history, model_name, stage, arch, settings))
            dist.barrier()
            info(_epoch_line(label, record, config.epochs))
            _fault_injection(epoch + 1)
    final = ema.module.state_dict() if ema is not None else None
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    elif final is not None:
        model.load_state_dict(final)
    model.to(memory_format=torch.contiguous_format).eval()
    dist.broadcast_state(model)
    if state_path is not None and dist.is_main():
        Path(state_path).unlink(missing_ok=True)  # finished: nothing left to resume
    return TrainResult(history, best["epoch"], best["top1"], start_epoch)


def _fault_injection(epoch: int) -> None:
    """EDGEKIT_FAULT_AFTER_EPOCH=N kills the process (SIGKILL) after epoch N's state is on disk: resume tests."""
    if os.environ.get("EDGEKIT_FAULT_AFTER_EPOCH") == str(epoch):
        os.kill(os.getpid(), signal.SIGKILL)


def _ema(model: torch.nn.Module, decay: float | None):
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _parallel(model: torch.nn.Module, trainable: torch.nn.Module) -> torch.nn.Module:
    """The module whose forward runs the training step (DDP-wrapped under torchrun)."""
    model.to(memory_format=torch.channels_last)  # ~1.7x faster depthwise convolutions on CPU
    if not dist.active():
        return model
    dist.broadcast_state(trainable)
    return torch.nn.parallel.DistributedDataParallel(model)


def _epoch(runner, model, objective, data, config, optimizer, scheduler, ema, epoch, bar, task) -> dict:
    runner.train()
    set_epoch(data.train, epoch)
    batches = epoch_batches(len(data.train), config.batch_size, config.seed, epoch)
    start, totals = time.perf_counter(), [0.0, 0.0, 0.0]  # loss·n, correct, n
    for done, global_batch in enumerate(batches, start=epoch * len(batches) + 1):
        indices = dist.shard(global_batch)
        images, labels = fetch(data.train, indices)
        images = images.contiguous(memory_format=torch.channels_last)
        loss, logits = objective.loss(runner, images, labels, indices)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad:
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], config.clip_grad)
        optimizer.step()
        scheduler.step_update(done)
        if ema is not None:
            ema.update_parameters(model)
        totals[0] += loss.item() * len(labels)
        totals[1] += (logits.argmax(1) == labels).sum().item()
        totals[2] += len(labels)
        rate = totals[2] * max(1, dist.world_size()) / (time.perf_counter() - start)
        bar.update(task, advance=1, status=f"epoch {epoch + 1}/{config.epochs} loss {totals[0] / totals[2]:.3f} "
                                           f"{rate:.0f} img/s")
    rank_samples = int(totals[2])
    loss_sum, correct, seen = dist.all_reduce_sum(totals)
    seconds = time.perf_counter() - start
    return {"epoch": epoch + 1, "world_size": dist.world_size(), "rank_samples": rank_samples,
            "loss": round(loss_sum / max(1, seen), 4),
            "train_top1": round(100 * correct / max(1, seen), 2), "img_per_s": round(seen / seconds, 1),
            "seconds": round(seconds, 1), "lr": round(optimizer.param_groups[0]["lr"], 6)}


@torch.inference_mode()
def _validate(model: torch.nn.Module, data: DataBundle, config: TrainConfig) -> dict:
    if not data.has_labels:
        return {}
    model.eval()
    n = len(data.val) if config.eval_samples is None else min(config.eval_samples, len(data.val))
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    loss, top1, top5 = 0.0, 0, 0
    for begin in range(0, n, 256):
        images, labels = fetch(data.val, list(range(begin, min(n, begin + 256))))
        logits = model(images.contiguous(memory_format=torch.channels_last))
        loss += loss_fn(logits, labels).item()
        correct1, correct5 = topk_correct(logits, labels)
        top1, top5 = top1 + correct1, top5 + correct5
    return {"val_loss": round(loss / n, 4), "val_top1": round(100 * top1 / n, 3), "val_top5": round(100 * top5 / n, 3)}


def _epoch_line(label: str, r: dict, epochs: int) -> str:
    val = f" | val top-1 {r['val_top1']}% top-5 {r['val_top5']}% loss {r['val_loss']}" if "val_top1" in r else ""
    return (f"{label}: epoch {r['epoch']}/{epochs} loss {r['loss']} train top-1 {r['train_top1']}%{val} "
            f"({r['img_per_s']} img/s, {r['seconds']} s)")


def _payload(model, trainable, optimizer, scheduler, ema, best, epoch, history, model_name, stage, arch, settings):
    return {"model_name": model_name, "stage": stage, "arch": arch, "config": json.dumps(settings, sort_keys=True),
            "epoch": epoch, "model": model.state_dict(), "trainable": trainable.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "ema": ema.state_dict() if ema is not None else {}, "rng": torch.get_rng_state(),
            "best": {"epoch": best["epoch"] or 0, "top1": best["top1"] if best["top1"] is not None else -1.0,
                     "state": best["state"] or {}},
            "history": json.dumps(history)}


def _restore(payload, model, trainable, optimizer, scheduler, ema, best) -> int:
    trainable.load_state_dict(payload["trainable"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    if ema is not None and payload["ema"]:
        ema.load_state_dict(payload["ema"])
    torch.set_rng_state(payload["rng"])
    saved = payload["best"]
    if saved["epoch"]:
        best.update(epoch=saved["epoch"], top1=saved["top1"], state=saved["state"])
    return int(payload["epoch"])
