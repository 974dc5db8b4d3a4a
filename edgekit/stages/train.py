"""The one trainer behind teacher training, distillation, fine-tuning and QAT.

timm's AdamW or SGD (no weight decay on norms and biases, optional layer-wise lr decay) and cosine schedule with
linear warm-up; label smoothing, MixUp/CutMix with soft targets, EMA, gradient clipping and accumulation;
augmentation from one policy for every dataset kind (edgekit.data.augment), with EfficientNetV2's progressive
resizing; autocast on the chosen device (edgekit.stages.accelerator); validation every epoch with best-epoch
selection; atomic per-epoch state for `--resume`; data parallelism under torchrun: each rank takes an equal slice
of every global batch, and every random draw of the data (augmentation, mixing partners) is keyed by
(seed, epoch, image), so N processes see what one does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2, param_groups_weight_decay
from timm.scheduler import CosineLRScheduler
from torch.utils.data import DataLoader, default_collate

from edgekit.bench.accuracy import topk_correct
from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.ui import info, progress
from edgekit.data import DataBundle
from edgekit.data.augment import AugmentPolicy
from edgekit.data.batches import datasets, fetch, samples, set_epoch, set_policy, set_train_size
from edgekit.data.mixing import MixConfig, MixPlan, mix, soft_targets
from edgekit.data.mixing import plan as mix_plan
from edgekit.data.progressive import progressive_stage, stage_fraction
from edgekit.quant.fake_quant import frozen_observers
from edgekit.stages import distributed as dist
from edgekit.stages.accelerator import Accelerator, select
from edgekit.stages.precise_bn import recalibrate
from edgekit.stages.stochastic_depth import drawing, keyed
from edgekit.stages.train_state import check_compatible, fingerprint, read_state, save_state

#: bump when the same settings train to different weights: it keys every training stage's cache entry, and a
#: resumable state of another trainer version is refused
TRAINER_VERSION = 4
#: settings that cannot change the weights (where training runs, how data is loaded): a state written on a GPU
#: resumes on the CPU
UNKEYED = ("eval_samples", "device", "workers")
PROGRESSIVE_STAGES = 4  # EfficientNetV2's number of size stages


@dataclass(frozen=True)
class TrainConfig:
    epochs: float  # a fraction trains that share of the last epoch's batches (e.g. QAT for 0.25 of an epoch)
    lr: float = 5e-3
    weight_decay: float = 0.05
    batch_size: int = 64
    optimizer: str = "adamw"
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.05
    ema_decay: float | None = None
    clip_grad: float | None = None
    precise_bn: int = 0  # images: BatchNorm statistics recomputed before each validation (0: off)
    layer_decay: float | None = None
    accum_steps: int = 1
    policy: AugmentPolicy = field(default_factory=AugmentPolicy)
    mix: MixConfig = field(default_factory=MixConfig)
    progressive: float | None = None  # first size as a share of img_size
    img_size: int | None = None  # the final training (and validation) size, for progressive resizing
    img_multiple: int = 1
    precision: str = "auto"
    device: str = "auto"
    workers: int | None = None
    eval_samples: int | None = None
    seed: int = 0

    @classmethod
    def from_options(cls, train, *, seed: int, eval_samples: int | None, img_size: int | None = None,
                     img_multiple: int = 1, **changes) -> "TrainConfig":
        """The trainer settings of a recipe's `train` section (with per-stage `changes`, e.g. QAT's epochs)."""
        policy = AugmentPolicy(crop=train.crop, scale=(train.crop_scale, 1.0), flip=train.flip,
                               auto_augment=train.auto_augment, re_prob=train.re_prob)
        mixing = MixConfig(mixup_alpha=train.mixup, cutmix_alpha=train.cutmix, prob=train.mix_prob)
        values = dict(epochs=train.epochs, lr=train.peak_lr(), weight_decay=train.weight_decay,
                      batch_size=train.batch_size, optimizer=train.optimizer, label_smoothing=train.label_smoothing,
                      warmup_fraction=train.warmup_fraction, ema_decay=train.ema, clip_grad=train.clip_grad,
                      precise_bn=train.precise_bn,
                      layer_decay=train.layer_decay, accum_steps=train.accum_steps, policy=policy, mix=mixing,
                      progressive=train.progressive if img_size else None, img_size=img_size,
                      img_multiple=img_multiple, precision=train.precision, device=train.device,
                      workers=train.workers, eval_samples=eval_samples, seed=seed)
        return cls(**{**values, **changes})

    @property
    def whole_epochs(self) -> int:
        """Epochs begun (a fractional last epoch counts)."""
        return math.ceil(self.epochs)

    def steps(self, batches_per_epoch: int) -> int:
        return max(1, round(self.epochs * batches_per_epoch))

    def mix_at(self, epoch: int) -> MixConfig:
        """The mixing of `epoch`: with progressive resizing, MixUp/CutMix alpha grow from 0 with the size (as
        EfficientNetV2's mixup does)."""
        if not self.progressive or self.img_size is None or not self.mix.enabled:
            return self.mix
        grown = stage_fraction(epoch, self.whole_epochs, PROGRESSIVE_STAGES)
        if grown == 0:
            return dataclasses.replace(self.mix, prob=0.0)
        return dataclasses.replace(self.mix, mixup_alpha=self.mix.mixup_alpha * grown,
                                   cutmix_alpha=self.mix.cutmix_alpha * grown)

    def stage(self, epoch: int) -> tuple[int | None, AugmentPolicy]:
        """The training size and augmentation of `epoch` (progressive resizing grows both)."""
        if not self.progressive or self.img_size is None:
            return self.img_size, self.policy
        return progressive_stage(epoch, self.whole_epochs, self.img_size, self.progressive, self.img_multiple,
                                 self.policy, stages=PROGRESSIVE_STAGES)


def check_training(train) -> None:
    """The train options' augmentation, mixing, device and precision are valid on this machine (before work)."""
    TrainConfig.from_options(train, seed=0, eval_samples=None)
    select(train.device, train.precision)


@dataclass
class TrainResult:
    history: list[dict]
    best_epoch: int | None
    best_top1: float | None
    resumed_from_epoch: int = 0
    seconds: float = 0.0
    img_per_s: float | None = None
    accelerator: str = ""

    def speed(self) -> dict:
        """Training time, throughput and where it ran, for the stage's metrics."""
        return {"train_seconds": self.seconds, "train_img_per_s": self.img_per_s, "accelerator": self.accelerator}


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The global shuffled batches of one epoch (full batches only), identical on every rank."""
    order = np.random.default_rng((seed, epoch)).permutation(n)
    return [order[i:i + batch_size].tolist() for i in range(0, n - batch_size + 1, batch_size)]


def _optimizer(model: torch.nn.Module, extras: list[torch.nn.Module], config: TrainConfig) -> torch.optim.Optimizer:
    """timm's optimizer for the model and the objective's extra modules, without weight decay on norm and bias
    parameters (nor on what the model's `no_weight_decay` names); SGD with Nesterov momentum 0.9; layer-wise lr
    decay (timm's param groups, `lr_scale` applied by the scheduler) when set."""
    optimizer = create_optimizer_v2(model, opt=config.optimizer, lr=config.lr, weight_decay=config.weight_decay,
                                    momentum=0.9, layer_decay=config.layer_decay)
    _scale_marked_parameters(optimizer, model)
    for module in extras:
        for group in param_groups_weight_decay(module, config.weight_decay):
            optimizer.add_param_group(group)
    return optimizer


def _scale_marked_parameters(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> None:
    """Move the parameters a module marks (`parameter_lr_scales()`: name -> multiple, e.g. DynamicConv's kernel
    bank) into param groups of their own whose `lr_scale` (applied by timm's scheduler) is multiplied by it."""
    scales = {id(getattr(module, name)): scale for module in model.modules()
              if callable(getattr(module, "parameter_lr_scales", None))
              for name, scale in module.parameter_lr_scales().items() if getattr(module, name, None) is not None}
    if not scales:
        return
    groups = []
    for group in optimizer.param_groups:
        marked: dict[float, list] = {}
        for param in group["params"]:
            if id(param) in scales:
                marked.setdefault(scales[id(param)], []).append(param)
        group["params"] = [p for p in group["params"] if id(p) not in scales]
        settings = {key: value for key, value in group.items() if key != "params"}
        groups += [{**settings, "params": params, "lr_scale": settings.get("lr_scale", 1.0) * scale}
                   for scale, params in marked.items()]
    optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
    for group in groups:
        optimizer.add_param_group(group)


def _schedule(optimizer: torch.optim.Optimizer, steps: int, warmup_fraction: float) -> CosineLRScheduler:
    """Linear warm-up from 0 to the peak lr over `warmup_fraction` of the steps, then cosine decay to 0; stepped
    with the number of updates done (`step_update`)."""
    warmup = int(steps * warmup_fraction)
    return CosineLRScheduler(optimizer, t_initial=max(1, steps - warmup), warmup_t=warmup, warmup_prefix=True,
                             t_in_epochs=False)


class Objective:
    """Cross-entropy with label smoothing (soft targets of mixed images as they are); subclasses add terms."""

    def __init__(self, label_smoothing: float):
        self.hard = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def ce(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against class indices (smoothed) or against N x C soft targets (already smoothed)."""
        if targets.dim() == 2:
            return torch.sum(-targets * F.log_softmax(logits.float(), dim=1), dim=1).mean()
        return self.hard(logits.float(), targets)

    def modules(self) -> list[torch.nn.Module]:
        """Extra trainable modules (e.g. feature projections) to optimise with the model."""
        return []

    def to(self, device: torch.device) -> None:
        """Move what the objective holds (a teacher, cached logits) to the training device."""

    def loss(self, model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, indices: list[int]):
        logits = model(images)
        return self.ce(logits, targets), logits


def auxiliary_loss(model: torch.nn.Module) -> torch.Tensor | float:
    """The sum of `auxiliary_loss()` over the model's modules that define it (a term of their own, e.g. SkipNet's
    gate compute cost from the last forward), added to every objective's loss (teacher training and KD alike)."""
    return sum((m.auxiliary_loss() for m in model.modules() if callable(getattr(m, "auxiliary_loss", None))), 0.0)


def train(model: torch.nn.Module, data: DataBundle, config: TrainConfig, *, label: str, stage: str = "train",
          model_name: str = "", objective: Objective | None = None, state_path: Path | None = None,
          resume: Path | None = None) -> TrainResult:
    """Train `model` in place on `data.train`, validating every epoch; returns the per-epoch history. The model
    comes back on the CPU, in eval mode, with the best epoch's weights (the EMA's when on)."""
    objective = objective or Objective(config.label_smoothing)
    _check_sizes(model, config, label)
    accel = select(config.device, config.precision)
    torch.manual_seed(config.seed)
    batches_per_epoch = len(data.train) // config.batch_size
    steps = config.steps(batches_per_epoch)
    model.to(accel.device)
    objective.to(accel.device)
    extras = [m.to(accel.device) for m in objective.modules()]
    trainable = torch.nn.ModuleList([model, *extras])
    optimizer = _optimizer(model, extras, config)
    scheduler = _schedule(optimizer, steps, config.warmup_fraction)
    scaler = accel.scaler()
    ema = _ema(model, config.ema_decay)
    arch = fingerprint(model)
    settings = json.loads(json.dumps({**{k: v for k, v in asdict(config).items() if k not in UNKEYED},
                                      "trainer": TRAINER_VERSION}))
    history, best = [], {"epoch": None, "top1": None, "state": None}
    start_epoch = 0
    payload = read_state(resume) if resume is not None else None
    if payload is not None and payload.get("stage") == stage:  # a state of another stage waits for that stage
        check_compatible(payload, resume, model_name=model_name, stage=stage, arch=arch, config=settings)
        start_epoch = _restore(payload, model, trainable, optimizer, scheduler, scaler, ema, best)
        history = json.loads(payload["history"])
        info(f"{label}: resuming after epoch {start_epoch} from {resume}")
    runner = _parallel(model, trainable, accel)
    info(f"{label}: training on {accel.describe()}")
    loop = Loop(runner, model, objective, data, config, accel, optimizer, scheduler, scaler, ema)
    with keyed(model), progress() as bar:
        task = bar.add_task(label, total=steps, completed=start_epoch * batches_per_epoch, status="")
        for epoch in range(start_epoch, config.whole_epochs):
            record = loop.epoch(epoch, bar, task, steps - epoch * batches_per_epoch)
            evaluated = ema.module if ema is not None else model
            if dist.is_main():
                if config.precise_bn:  # the buffers reach the other ranks at the next forward
                    record["precise_bn_images"] = loop.precise_batch_norms(evaluated, epoch)
                record.update(_validate(evaluated, data, config, accel))
            history.append(record)
            top1 = record.get("val_top1")
            if top1 is not None and (best["top1"] is None or top1 > best["top1"]):
                best.update(epoch=epoch + 1, top1=top1, state=_cpu_copy(evaluated.state_dict()))
            if state_path is not None and dist.is_main():
                save_state(state_path, _payload(model, trainable, optimizer, scheduler, scaler, ema, best,
                                                epoch + 1, history, model_name, stage, arch, settings))
            dist.barrier()
            info(_epoch_line(label, record, config.whole_epochs))
            _fault_injection(epoch + 1)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    elif ema is not None:
        model.load_state_dict(ema.module.state_dict())
    dist.broadcast_state(model)  # on the training device: nccl moves CUDA tensors only
    model.to("cpu", memory_format=torch.contiguous_format).eval()
    objective.to(torch.device("cpu"))
    if state_path is not None and dist.is_main():
        Path(state_path).unlink(missing_ok=True)  # finished: nothing left to resume
    done = [h for h in history[start_epoch:] if "seconds" in h]
    seconds = sum(h["seconds"] for h in done)
    rate = round(sum(h["img_per_s"] * h["seconds"] for h in done) / seconds, 1) if seconds else None
    return TrainResult(history, best["epoch"], best["top1"], start_epoch, round(seconds, 3), rate,
                       accel.describe())


def _check_sizes(model: torch.nn.Module, config: TrainConfig, label: str) -> None:
    """Progressive resizing needs a model that runs at its smaller sizes: refuse one that does not, up front."""
    sizes = sorted({config.stage(epoch)[0] for epoch in range(config.whole_epochs)} - {config.img_size, None})
    for size in sizes:
        try:
            with torch.no_grad():
                model.eval()(torch.zeros(1, 3, size, size))
        except Exception as exc:
            raise EdgekitError(f"{label}: --progressive {config.progressive} trains at {size} px first, and this "
                               f"model cannot run at {size} px ({type(exc).__name__}: {first_line(exc, 120)}); "
                               "progressive resizing needs a model that takes any input size (CNNs)") from exc


def _fault_injection(epoch: int) -> None:
    """EDGEKIT_FAULT_AFTER_EPOCH=N kills the process (SIGKILL) after epoch N's state is on disk: resume tests."""
    if os.environ.get("EDGEKIT_FAULT_AFTER_EPOCH") == str(epoch):
        os.kill(os.getpid(), signal.SIGKILL)


def _ema(model: torch.nn.Module, decay: float | None):
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _parallel(model: torch.nn.Module, trainable: torch.nn.Module, accel: Accelerator) -> torch.nn.Module:
    """The module whose forward runs the training step (DDP-wrapped under torchrun)."""
    model.to(memory_format=torch.channels_last)  # ~1.7x faster depthwise convolutions on CPU
    if not dist.active():
        return model
    dist.broadcast_state(trainable)
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[accel.device.index] if accel.cuda else None)


class Loop:
    """One epoch of updates: keyed batches (and mixing partners) through a DataLoader, micro-batches, autocast."""

    def __init__(self, runner, model, objective, data, config, accel, optimizer, scheduler, scaler, ema):
        self.runner, self.model, self.objective, self.data, self.config = runner, model, objective, data, config
        self.accel, self.optimizer, self.scheduler, self.scaler, self.ema = accel, optimizer, scheduler, scaler, ema
        self.progress_hooks = progress_hooks(model)
        self.total_steps = config.steps(len(data.train) // config.batch_size)

    def epoch(self, epoch: int, bar, task, steps_left: int) -> dict:
        """Train one epoch (or its first `steps_left` batches, the last of a fractional run)."""
        config, data = self.config, self.data
        self.runner.train()
        size, policy = config.stage(epoch)
        set_epoch(data.train, epoch)
        set_policy(data.train, policy)
        set_train_size(data.train, size)
        global_batches = epoch_batches(len(data.train), config.batch_size, config.seed, epoch)
        first = epoch * len(global_batches) + 1
        global_batches = global_batches[:steps_left]
        side, mixing = size or _image_side(data.train), config.mix_at(epoch)
        plans = [mix_plan(mixing, len(b), (config.seed, epoch, step), (side, side)) if mixing.enabled
                 else None for step, b in enumerate(global_batches, start=first)]
        positions = dist.shard(list(range(config.batch_size)))  # this rank's places in every global batch
        requests = [self._request(b, positions, plan) for b, plan in zip(global_batches, plans)]
        start, totals = time.perf_counter(), [0.0, 0.0, 0.0]  # loss·n, correct, n
        for done, (batch, plan) in enumerate(zip(self._loader(requests), plans), start=first):
            images, targets = self._inputs(batch, plan)
            loss_sum, correct = self._update(images, targets, batch[2].tolist(), positions, done)
            self.scheduler.step_update(done)
            totals[0] += loss_sum
            totals[1] += correct
            totals[2] += len(images)
            rate = totals[2] * max(1, dist.world_size()) / (time.perf_counter() - start)
            bar.update(task, advance=1, status=f"epoch {epoch + 1}/{config.whole_epochs} loss {totals[0] / totals[2]:.3f}"
                                               f" {rate:.0f} img/s")
        rank_samples = int(totals[2])
        loss_sum, correct, seen = dist.all_reduce_sum(totals)
        seconds = time.perf_counter() - start
        record = {"epoch": epoch + 1, "world_size": dist.world_size(), "rank_samples": rank_samples,
                  "loss": round(loss_sum / max(1, seen), 4), "train_top1": round(100 * correct / max(1, seen), 2),
                  "img_per_s": round(seen / seconds, 1), "seconds": round(seconds, 3),
                  "lr": round(self.optimizer.param_groups[0]["lr"], 6)}
        if size is not None and size != config.img_size:
            record["img_size"] = size
        return record

    def precise_batch_norms(self, model: torch.nn.Module, epoch: int) -> int:
        """PreciseBN (edgekit.stages.precise_bn) over the first `precise_bn` images of this epoch's order, with
        the last epoch's size and augmentation (what validation sees at the end of progressive resizing)."""
        config, data = self.config, self.data
        size, policy = config.stage(config.whole_epochs - 1)
        set_policy(data.train, policy)
        set_train_size(data.train, size)
        order = [i for b in epoch_batches(len(data.train), config.batch_size, config.seed, epoch) for i in b]
        order = order[:config.precise_bn]
        requests = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        with self.accel.autocast():
            return recalibrate(model, (self._inputs(batch, None)[0] for batch in self._loader(requests)))

    def _request(self, global_batch: list[int], positions: list[int], plan: MixPlan | None) -> list[int]:
        """This rank's images of a global batch, then (when mixed) each one's partner in the global batch."""
        own = [global_batch[p] for p in positions]
        return own if plan is None else own + [global_batch[p] for p in plan.partners(positions)]

    def _loader(self, requests: list[list[int]]):
        """Batches fetched in `workers` processes (decoding ImageFolders), pinned for a GPU; each yields
        (images, labels, indices)."""
        workers = self.config.workers if self.config.workers is not None else _default_workers(self.data.train)
        return DataLoader(_Indexed(self.data.train), batch_sampler=requests, num_workers=workers,
                          pin_memory=self.accel.cuda, prefetch_factor=4 if workers else None,
                          collate_fn=default_collate)

    def _inputs(self, batch, plan: MixPlan | None) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch[0], batch[1]
        if plan is not None:
            half = len(images) // 2
            images = mix(images[:half], images[half:], plan)
            labels = soft_targets(labels[:half], labels[half:], plan.lam, self.data.num_classes,
                                  self.config.label_smoothing)
        device = self.accel.device
        return (images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last),
                labels.to(device, non_blocking=True))

    def _update(self, images: torch.Tensor, targets: torch.Tensor, indices: list[int], positions: list[int],
                step: int) -> tuple[float, int]:
        """One optimizer update over `accum_steps` micro-batches; returns (loss·n, correct) of the batch.
        Stochastic depth draws by (step, global-batch position), whatever the rank or micro-batch."""
        config, n = self.config, len(images)
        for hook in self.progress_hooks:  # e.g. DynamicConv's temperature annealing
            hook((step - 1) / self.total_steps)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, correct = 0.0, 0
        chunks = [c for c in torch.arange(n).chunk(config.accum_steps) if len(c)]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            sync = self.runner.no_sync() if (not last and hasattr(self.runner, "no_sync")) else contextlib.nullcontext()
            rows = chunk.tolist()
            with sync, drawing(config.seed, step, [positions[j] for j in rows]):
                with self.accel.autocast():
                    loss, logits = self.objective.loss(self.runner, images[chunk], targets[chunk],
                                                       [indices[j] for j in rows])
                    loss = loss + auxiliary_loss(self.model)
                self.scaler.scale(loss * len(chunk) / n).backward()
            loss_sum += loss.item() * len(chunk)
            hard = targets[chunk].argmax(1) if targets.dim() == 2 else targets[chunk]
            correct += (logits.argmax(1) == hard).sum().item()
        if config.clip_grad:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                           config.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss_sum, correct


def progress_hooks(model: torch.nn.Module) -> list:
    """The `set_training_progress(progress)` methods of `model`'s submodules: called before every optimizer update
    with the share of the run's updates already done (0 at the first, in [0, 1))."""
    return [m.set_training_progress for m in model.modules() if callable(getattr(m, "set_training_progress", None))]


class _Indexed(torch.utils.data.Dataset):
    """A dataset whose samples also carry their index (cached teacher logits are looked up by it)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, indices: list[int]) -> list[tuple]:
        return [(image, label, index) for (image, label), index in zip(samples(self.dataset, indices), indices)]


def _default_workers(dataset) -> int:
    """In-memory tensors need no loader processes; decoding image files does (up to 8, one core left)."""
    if any(getattr(d, "in_memory", False) for d in datasets(dataset)):
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def _image_side(dataset) -> int:
    """The side of the images a training set yields at its own size (for the CutMix box)."""
    image, _ = dataset[0]
    return int(image.shape[-1])


def _cpu_copy(state: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


@torch.inference_mode()
def _validate(model: torch.nn.Module, data: DataBundle, config: TrainConfig, accel: Accelerator) -> dict:
    if not data.has_labels:
        return {}
    model.eval()
    n = len(data.val) if config.eval_samples is None else min(config.eval_samples, len(data.val))
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    loss, top1, top5 = 0.0, 0, 0
    with frozen_observers(model):  # a QAT model's ranges come from training images only
        for begin in range(0, n, 256):
            images, labels = fetch(data.val, list(range(begin, min(n, begin + 256))))
            images = images.to(accel.device).contiguous(memory_format=torch.channels_last)
            with accel.autocast():
                logits = model(images).float().cpu()
            loss += loss_fn(logits, labels).item()
            correct1, correct5 = topk_correct(logits, labels)
            top1, top5 = top1 + correct1, top5 + correct5
    return {"val_loss": round(loss / n, 4), "val_top1": round(100 * top1 / n, 3), "val_top5": round(100 * top5 / n, 3)}


def _epoch_line(label: str, r: dict, epochs: int) -> str:
    val = f" | val top-1 {r['val_top1']}% top-5 {r['val_top5']}% loss {r['val_loss']}" if "val_top1" in r else ""
    size = f" at {r['img_size']} px" if "img_size" in r else ""
    return (f"{label}: epoch {r['epoch']}/{epochs}{size} loss {r['loss']} train top-1 {r['train_top1']}%{val} "
            f"({r['img_per_s']} img/s, {r['seconds']:.1f} s)")


def _payload(model, trainable, optimizer, scheduler, scaler, ema, best, epoch, history, model_name, stage, arch,
             settings):
    return {"model_name": model_name, "stage": stage, "arch": arch, "config": json.dumps(settings, sort_keys=True),
            "epoch": epoch, "model": _cpu_copy(model.state_dict()), "trainable": _cpu_copy(trainable.state_dict()),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "ema": _cpu_copy(ema.state_dict()) if ema is not None else {}, "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "best": {"epoch": best["epoch"] or 0, "top1": best["top1"] if best["top1"] is not None else -1.0,
                     "state": best["state"] or {}},
            "history": json.dumps(history)}


def _restore(payload, model, trainable, optimizer, scheduler, scaler, ema, best) -> int:
    trainable.load_state_dict(payload["trainable"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    if payload.get("scaler"):
        scaler.load_state_dict(payload["scaler"])
    if ema is not None and payload["ema"]:
        ema.load_state_dict(payload["ema"])
    torch.set_rng_state(payload["rng"])
    if payload.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    saved = payload["best"]
    if saved["epoch"]:
        best.update(epoch=saved["epoch"], top1=saved["top1"], state=saved["state"])
    return int(payload["epoch"])
