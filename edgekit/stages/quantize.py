"""The int8 stage: QAT through the shared trainer, or PTQ on calibration images; one integer model for all formats."""

from __future__ import annotations

import copy

import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.ui import info
from edgekit.data.batches import fetch, unaugmented
from edgekit.data.mixing import MixConfig
from edgekit.quant import accuracy_control, pt2e, scheme
from edgekit.quant.backends import choose_backend, named_backend
from edgekit.quant.census import graph_census
from edgekit.quant.graph import qdq_counts
from edgekit.stages import distributed
from edgekit.stages.base import Context, ModelArtifact, Node, Output, Setting, register
from edgekit.stages.distill import Distillation
from edgekit.stages.model_stage import ModelStage
from edgekit.stages.train import TRAINER_VERSION, TrainConfig, train

#: a fake-quantized training step with distillation costs about this many float ones (effnet_lite0 at 64 px here:
#: benchmarks/results/cache_rerun.json)
QAT_COST = 3.0
QAT_READS = ("train", "recover.kd", "recover.temperature", "recover.alpha")


def resolve_mode(int8, labelled: bool) -> str:
    """QAT when the data can train and --qat-epochs > 0 (and the backend trains); PTQ otherwise."""
    backend = named_backend(int8.backend)
    trainable = labelled and int8.qat_epochs > 0
    if int8.mode == "qat":
        if not trainable:
            raise EdgekitError("--int8-mode qat needs labelled --data with a training split and --qat-epochs > 0; "
                               "synthetic data allows PTQ only (--int8-mode ptq), and its accuracy is unmeasured")
        if not backend.qat:
            raise EdgekitError(f"--quant-backend {backend.name} is post-training only; use --int8-mode ptq "
                               f"or --quant-backend pt2e for QAT")
        return "qat"
    if int8.mode == "ptq":
        return "ptq"
    return "qat" if trainable and backend.qat else "ptq"


def calibration_batches(data, samples: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """`samples` unaugmented training images (validation images when there is no training split)."""
    dataset = data.train if data.train is not None else data.val
    with unaugmented(dataset):
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:samples].tolist()
        return [fetch(dataset, order[i:i + batch_size])[0] for i in range(0, len(order), batch_size)]


@register
class Int8(ModelStage):
    name = "int8"
    version = 100 * scheme.VERSION + TRAINER_VERSION  # QAT trains; both change what a cached entry holds
    may_follow = ("teacher", "prune", "attention", "kd", "finetune")
    reads = ("int8", "seed", "data.eval_samples", "train.batch_size")
    libraries = ("torch", "torchao", "executorch", "nncf")

    def reads_for(self, setting: Setting, node: Node) -> tuple[str, ...]:
        qat = resolve_mode(setting.recipe.int8, setting.data.labelled) == "qat"
        return (*self.reads, *QAT_READS) if qat else self.reads

    def check(self, node: Node, setting: Setting) -> None:
        int8 = setting.recipe.int8
        named_backend(int8.backend).check_installed()
        resolve_mode(int8, setting.data.labelled)

    def describe(self, node: Node, setting: Setting) -> str:
        int8 = node.options.int8
        mode = resolve_mode(int8, setting.data.labelled)
        if mode == "qat":
            return f"QAT {int8.qat_epochs} epoch(s)"
        return f"PTQ on {int8.calib_samples} images" + (f", max drop {int8.max_drop}" if int8.max_drop else "")

    def estimate(self, node: Node, setting: Setting, probe) -> float | None:
        int8 = node.options.int8
        seconds = probe.inference_seconds(int8.calib_samples) + probe.export_seconds("capture")
        if resolve_mode(int8, setting.data.labelled) == "qat":
            seconds += QAT_COST * probe.training_seconds(int8.qat_epochs, setting.data.n_train, setting.data.n_val,
                                                         node.options.data.eval_samples)
        return seconds

    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        """Quantize a copy of the input model; the float copy keeps its (QAT-updated) weights for the checkpoint."""
        options, data = node.options, ctx.data
        source = inputs["model"].model
        mode = resolve_mode(options.int8, data.has_labels and data.train is not None)
        backend, why = choose_backend(options.int8.backend, mode, ctx.setting.spec.family, options.int8.max_drop)
        model = copy.deepcopy(source.module).eval()
        example, _ = fetch(data.val, [0])
        batches = calibration_batches(data, options.int8.calib_samples, min(options.train.batch_size, 64),
                                      options.seed)
        graph = pt2e.capture(model, example, fold_norms=mode != "qat")
        metrics: dict = {"mode": mode, "backend": backend.name, "backend_choice": why,
                         "calib_samples": sum(b.shape[0] for b in batches)}
        observer = scheme.resolve_observer(options.int8.calib_observer, ctx.setting.spec.family)
        ranges = _activation_ranges(mode, backend.name, observer)
        float_layers: tuple[str, ...] = ()
        if options.int8.max_drop is not None:
            control = accuracy_control.search(model, graph, backend, batches, data, options.int8.max_drop,
                                              options.data.eval_samples, observer)
            float_layers = tuple(control["float_layers"])
            metrics["accuracy_control"] = control
        if mode == "qat":
            converted, metrics["qat"] = self._qat(model, graph, batches, float_layers, node, inputs, ctx)
        else:
            info(f"int8: post-training quantization ({backend.name}) on {metrics['calib_samples']} calibration "
                 f"images, ranges from {ranges}")
            converted = backend.quantize(graph, scheme.xnnpack_quantizer(False, float_layers, observer), batches)
        metrics.update(scheme=scheme.describe(float_layers, ranges), qdq=qdq_counts(converted),
                       census=graph_census(converted), activation_ranges=pt2e.observer_ranges(converted))
        info(f"int8: {metrics['census']['int8_ops']} integer ops, {metrics['census']['float_ops']} float ops "
             f"({', '.join(metrics['census']['float_op_types']) or 'none'})")
        return Output(metrics, ModelArtifact(source.description, "int8", module=converted, float_module=model))

    def _qat(self, model, graph, batches, float_layers, node: Node, inputs: dict[str, Output],
             ctx: Context) -> tuple[torch.nn.Module, dict]:
        """Fake-quant fine-tuning through the shared trainer, distilling from the FP32 teacher unless --no-kd."""
        options, data = node.options, ctx.data
        prepared = pt2e.prepare(graph, scheme.xnnpack_quantizer(True, float_layers), qat=True)
        pt2e.calibrate(prepared, batches)  # start the fake-quantizers from calibrated ranges
        if options.int8.qat_bn == "freeze":
            pt2e.freeze_batch_norms(prepared)
        config = TrainConfig.from_options(options.train, seed=options.seed, eval_samples=options.data.eval_samples,
                                          epochs=options.int8.qat_epochs, lr=options.int8.qat_lr, ema_decay=None,
                                          warmup_fraction=0.0, layer_decay=None, mix=MixConfig())
        use_kd = options.recover.kd is not False
        objective = None
        if use_kd:
            example, _ = fetch(data.val, [0])
            objective = Distillation(inputs["teacher"].model.module, prepared, example,
                                     temperature=options.recover.temperature, alpha=options.recover.alpha,
                                     label_smoothing=options.train.label_smoothing)
        frozen = ", BatchNorm statistics frozen" if options.int8.qat_bn == "freeze" else ""
        info(f"int8: quantization-aware training, {config.epochs} epoch(s) at lr {config.lr}{frozen}"
             f"{' with distillation from the FP32 teacher' if use_kd else ''}")
        result = train(prepared, data, config, label="qat", stage="qat", model_name=ctx.setting.spec.name,
                       objective=objective, state_path=ctx.state_path("qat") if distributed.is_main() else None,
                       resume=ctx.resume)
        _copy_weights(prepared, model)
        return pt2e.convert(prepared), {"epochs": config.epochs, "lr": config.lr, "kd": use_kd,
                                        "batch_norm": options.int8.qat_bn,
                                        "best_epoch": result.best_epoch, "best_val_top1": result.best_top1,
                                        **result.speed(), "history": result.history}


def _activation_ranges(mode: str, backend: str, observer: str) -> str:
    """How the int8 model's activation ranges are set, for the report: QAT's fake-quantizers, the pt2e backend's
    PTQ observers, or another backend's own statistics (it ignores the quantizer's observers)."""
    if mode == "qat":
        return "QAT fake-quantizers (moving min/max)"
    return f"{observer} observers" if backend == "pt2e" else f"{backend} statistics"


def _copy_weights(prepared: torch.nn.Module, model: torch.nn.Module) -> None:
    """Write the QAT-trained weights back into the eager float model (torch.export keeps parameter names)."""
    trained = prepared.state_dict()
    own = model.state_dict()
    shared = {k: v for k, v in trained.items() if k in own and v.shape == own[k].shape}
    missing = [k for k in own if k not in shared and not k.endswith("num_batches_tracked")]
    if missing:
        raise EdgekitError(f"int8: QAT graph lost {len(missing)} weight(s) of the float model (e.g. {missing[0]})")
    model.load_state_dict(shared, strict=False)

