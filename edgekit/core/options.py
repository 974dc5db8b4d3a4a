"""The recipe's sections: one options model per stage group.

Every field carries its description and real default; `edgekit.cli` generates the flags, their help, choices and
panels from these models, and `scripts/options_reference.py` writes docs/options.md from them. A field's `flat`
name is the key it had before recipes were nested (`prune_criterion`); it is also its CLI flag (`--prune-criterion`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgekit.core.formats import FORMATS

#: the largest channel ratio pruning accepts (torch-pruning's max_pruning_ratio stays below 1)
MAX_PRUNE_RATIO = 0.95
#: pruning criteria and their aliases; edgekit.pruning.engine binds an importance to each name
PRUNE_CRITERIA: dict[str, tuple[str, ...]] = {"l2": ("magnitude",), "taylor": (), "bn-scale": ("bn_scale", "slim"),
                                              "lamp": (), "random": ()}
#: quantization backends and their aliases; edgekit.quant.backends binds an engine to each name but `auto`
QUANT_BACKENDS: dict[str, tuple[str, ...]] = {"auto": (), "pt2e": ("torchao",), "nncf": ()}
PRUNE_TARGET_METRICS = ("macs", "latency")


def option(default: Any = None, description: str = "", *, flat: str | None = None, keyed: bool = True,
           **constraints) -> Any:
    """A field with its help text; `flat` is the pre-nesting recipe key and the CLI flag's name; `keyed=False`
    marks a field that cannot change a stage's result (where it runs, how many loader processes), so it stays out
    of cache keys."""
    extra = {**({"flat": flat} if flat else {}), **({} if keyed else {"keyed": False})} or None
    if callable(default):  # list, dict or a factory function
        return Field(default_factory=default, description=description, json_schema_extra=extra, **constraints)
    return Field(default, description=description, json_schema_extra=extra, **constraints)


def _canonical(value: Any, names: dict[str, tuple[str, ...]]) -> Any:
    """An alias becomes its canonical name (`magnitude` -> `l2`); anything else is left for the Literal check."""
    if isinstance(value, str):
        key = value.strip()
        for name, aliases in names.items():
            if key == name or key in aliases:
                return name
    return value


def _comma_list(value: Any) -> Any:
    """Flags give 'a,b'; YAML may give a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Section(BaseModel):
    """A recipe section: unknown keys are refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def unkeyed(cls) -> set[str]:
        """Fields that stay out of cache keys."""
        return {name for name, f in cls.model_fields.items() if (f.json_schema_extra or {}).get("keyed") is False}


class DataOptions(Section):
    """What the model sees: the dataset, the input size and how much of it to use."""

    source: str = option("fashion-mnist", "fashion-mnist | cifar10 | synthetic | an ImageFolder directory",
                         flat="data")
    img_size: int | None = option(None, "input size in px (default: the model's)")
    subset: int | None = option(None, "cap on training images (stratified, seeded)", ge=1)
    num_classes: int | None = option(None, "classes when the data has no labels", ge=1)
    eval_samples: int | None = option(None, "cap on validation images (default: all)", ge=1)

    def synthetic(self) -> bool:
        """Random images without labels: nothing to train or measure accuracy on."""
        return self.source.split(":")[0] == "synthetic"


#: factory keywords that have their own option
_OWN_FLAGS = {"num_classes": "--num-classes", "img_size": "--img-size", "pretrained": "--pretrained",
              "drop_path_rate": "--drop-path"}


class TeacherOptions(Section):
    """Where the uncompressed FP32 model's weights come from."""

    weights: Path | None = option(None, "initial weights: .safetensors or a tensor-only .pt/.pth")
    pretrained: bool = option(False, "timm hub weights (needs the network)")
    train: bool = option(True, "train the teacher when it needs it (no weights, or a head for other classes)",
                         flat="train_teacher")
    model_args: dict[str, Any] = option(dict, "keyword arguments of the model's factory (a plugin's, or "
                                               "timm.create_model), e.g. threshold: 0.4 (--model-arg KEY=VALUE)")

    @field_validator("model_args")
    @classmethod
    def _scalar_args(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, arg in value.items():
            if not str(key).isidentifier():
                raise ValueError(f"--model-arg '{key}' is not a keyword argument name")
            if key in _OWN_FLAGS:
                raise ValueError(f"--model-arg {key}: set it with {_OWN_FLAGS[key]}")
            if not isinstance(arg, (bool, int, float, str)) and arg is not None:
                raise ValueError(f"--model-arg {key}: give a number, true/false or a string, not "
                                 f"{type(arg).__name__}")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _one_source(self) -> "TeacherOptions":
        if self.weights is not None and self.pretrained:
            raise ValueError("--weights and --pretrained are exclusive: pick one source of weights")
        return self


class TrainOptions(Section):
    """The one trainer behind the teacher, recovery after pruning and QAT.

    Unset fields take the model family's training recipe (edgekit/stages/recipes/*.yaml, `--train-recipe`), then
    these defaults.
    """

    recipe: str = option("auto", "default training settings: auto (the model family's recipe), a recipe name, or "
                                 "none (the plain defaults below)", flat="train_recipe")
    epochs: int = option(3, "training epochs (teacher, and recovery after pruning)", ge=0)
    lr: float | None = option(None, "peak learning rate (default: --lr-base x --batch-size / 256)", gt=0)
    lr_base: float = option(0.02, "peak learning rate per 256 images, scaled linearly with --batch-size", gt=0)
    batch_size: int = option(64, "global batch size (images per update)", ge=1)
    accum_steps: int = option(1, "gradient accumulation: each update's batch in N micro-batches (less memory)",
                              ge=1)
    optimizer: Literal["adamw", "sgd"] = option("adamw", "optimizer (sgd: momentum 0.9, Nesterov)")
    weight_decay: float = option(0.05, "weight decay, never on norms and biases (keep it small with sgd, e.g. "
                                       "5e-5)", ge=0)
    layer_decay: float | None = option(None, "layer-wise lr decay for fine-tuning, e.g. 0.65 (ViT-style models; "
                                             "off when unset)", gt=0, le=1)
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy", ge=0, lt=1)
    warmup_fraction: float = option(0.05, "share of all steps spent warming up the learning rate", ge=0, le=1)
    ema: float | None = option(None, "EMA decay of the weights, e.g. 0.999 (off when unset)", gt=0, lt=1)
    clip_grad: float | None = option(None, "max gradient norm (off when unset)", gt=0)
    precise_bn: int = option(0, "before each validation, recompute BatchNorm statistics from N training images "
                                "with the epoch's final weights (PreciseBN; 0: off)", ge=0)
    drop_path: float = option(0.0, "stochastic depth rate (models that have it)", ge=0, lt=1)
    crop: Literal["pad", "rrc", "none"] = option("pad", "pad: reflect-pad and random crop; rrc: random resized "
                                                        "crop; none: the whole image")
    crop_scale: float = option(0.35, "rrc: smallest crop area, as a share of the image", gt=0, le=1)
    flip: bool = option(True, "random horizontal flips")
    auto_augment: str | None = option(None, "timm policy: rand-m9-mstd0.5 (RandAugment), original "
                                            "(AutoAugment), trivial (TrivialAugment), augmix-m5-w4-d2")
    re_prob: float = option(0.0, "random erasing probability", ge=0, le=1)
    mixup: float = option(0.0, "MixUp alpha (0: off)", ge=0)
    cutmix: float = option(0.0, "CutMix alpha (0: off)", ge=0)
    mix_prob: float = option(1.0, "share of batches mixed when --mixup/--cutmix are on", ge=0, le=1)
    progressive: float | None = option(None, "progressive resizing: first size as a share of --img-size, e.g. "
                                             "0.5; size and augmentation grow over the epochs (EfficientNetV2)",
                                       gt=0, lt=1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", "auto: fp32 on CPU (faster than bf16 here, see docs/training.md), bf16 on CUDA GPUs that have it, "
                "else fp16 with a grad scaler", flat="train_precision")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "where training runs: auto picks cuda when present",
                                                    flat="train_device", keyed=False)
    workers: int | None = option(None, "data-loading processes (default: 0 for in-memory data, else up to 8)",
                                 ge=0, keyed=False)

    @field_validator("auto_augment")
    @classmethod
    def _policy_name(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    def peak_lr(self) -> float:
        """--lr when given, else --lr-base scaled linearly with the batch size."""
        return self.lr if self.lr is not None else self.lr_base * self.batch_size / 256

    def mixing(self) -> bool:
        return self.mix_prob > 0 and (self.mixup > 0 or self.cutmix > 0)


class PruneOptions(Section):
    """Structured channel pruning over torch-pruning's dependency graph."""

    ratio: float = option(0.0, "fraction of channels to remove (0: no pruning)", flat="prune", ge=0,
                          le=MAX_PRUNE_RATIO)
    target: str | None = option(None, "macs=F or latency=F: prune until MACs / measured onnxruntime latency "
                                      "<= F x the original (instead of --prune)", flat="prune_target")
    criterion: Literal["l2", "taylor", "bn-scale", "lamp", "random"] = option(
        "l2", "channel importance", flat="prune_criterion")
    scope: Literal["uniform", "global"] = option("uniform", "uniform: the same ratio per layer group; global: "
                                                            "ranked across the network", flat="prune_scope")
    steps: int = option(1, "iterative steps (fine-tuning between them when the data can train)", flat="prune_steps",
                        ge=1, le=50)
    round_to: int = option(8, "pruned widths are multiples of N", ge=1)
    ignore: list[str] = option(list, "comma list of layer names/globs kept at full width (classifier and stem "
                                     "always)", flat="prune_ignore")
    ratios: dict[str, float] = option(dict, "layer-name glob -> channel ratio (recipe or --set only)",
                                      flat="prune_ratios")

    @field_validator("ignore", mode="before")
    @classmethod
    def _ignore_list(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("criterion", mode="before")
    @classmethod
    def _criterion_alias(cls, value: Any) -> Any:
        return _canonical(value, PRUNE_CRITERIA)

    @field_validator("target")
    @classmethod
    def _target_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            parse_prune_target(value)
        return value

    @field_validator("ratios")
    @classmethod
    def _ratio_range(cls, value: dict[str, float]) -> dict[str, float]:
        for pattern, ratio in value.items():
            if not 0 <= ratio <= MAX_PRUNE_RATIO:
                raise ValueError(f"prune.ratios['{pattern}'] = {ratio} is outside [0, {MAX_PRUNE_RATIO}]")
        return value

    @model_validator(mode="after")
    def _ratio_or_target(self) -> "PruneOptions":
        if self.target and self.ratio > 0:
            raise ValueError("--prune and --prune-target are exclusive: give a ratio or a target, not both")
        return self

    def enabled(self) -> bool:
        return self.ratio > 0 or bool(self.target)


def parse_prune_target(text: str) -> tuple[str, float]:
    """'macs=0.5' -> ('macs', 0.5); a ValueError naming the expected form otherwise."""
    metric, sep, value = text.partition("=")
    metric = metric.strip().lower()
    if not sep or metric not in PRUNE_TARGET_METRICS:
        raise ValueError(f"--prune-target '{text}' must be macs=F or latency=F (F a fraction in (0, 1))")
    try:
        fraction = float(value)
    except ValueError:
        raise ValueError(f"--prune-target '{text}': '{value}' is not a number") from None
    if not 0 < fraction < 1:
        raise ValueError(f"--prune-target '{text}': the fraction must be in (0, 1), e.g. {metric}=0.5")
    return metric, fraction


#: attention kinds of --attention; edgekit.models.attention builds the efficient ones
ATTENTION_KINDS = ("softmax", "linformer", "performer")
#: Linformer's projected length (capped at the token count) and Performer's random features, by default
LINFORMER_K = 64
PERFORMER_FEATURES = 128


class AttentionOptions(Section):
    """Efficient attention in the compressed model (ViT/DeiT, T2T-ViT): Linformer or Performer attention replace the
    softmax attention of its transformer blocks after pruning; recovery distils it from the softmax teacher."""

    kind: Literal["softmax", "linformer", "performer"] = option(
        "softmax", "softmax (unchanged) | linformer (low-rank keys/values) | performer (FAVOR+ random features)",
        flat="attention")
    linformer_k: int | None = option(None, f"Linformer's projected length of keys/values (default: "
                                           f"min({LINFORMER_K}, tokens))", ge=1)
    performer_features: int = option(PERFORMER_FEATURES, "Performer's random features per head", ge=1)

    @model_validator(mode="after")
    def _settings_of_the_chosen_kind(self) -> "AttentionOptions":
        for field, kind in (("linformer_k", "linformer"), ("performer_features", "performer")):
            if field in self.model_fields_set and self.kind != kind:
                raise ValueError(f"--{field.replace('_', '-')} sets {kind} attention: add --attention {kind}")
        return self

    def enabled(self) -> bool:
        return self.kind != "softmax"


class RecoverOptions(Section):
    """Recovery after pruning: knowledge distillation from the FP32 teacher, or fine-tuning on labels."""

    kd: bool | None = option(None, "distil from the FP32 teacher (default: on when the data can train; "
                                   "--no-kd fine-tunes on labels only)")
    epochs: float | None = option(None, "recovery epochs, fractions allowed (default: --epochs)",
                                  flat="recover_epochs", gt=0)
    lr_base: float | None = option(None, "recovery's peak lr per 256 images (default: the training lr)",
                                   flat="recover_lr_base", gt=0)
    temperature: float = option(2.0, "distillation temperature", flat="kd_temperature", gt=0)
    alpha: float = option(0.7, "weight of the distillation term (1 - alpha: cross-entropy)", flat="kd_alpha",
                          ge=0, le=1)
    features: bool = option(False, "also match the final feature maps (learnt 1x1 projection)", flat="kd_features")
    cache_logits: bool = option(False, "teacher logits computed once over an unaugmented epoch (in-memory data)",
                                flat="kd_cache_logits")


class Int8Options(Section):
    """INT8 weights and activations: one integer model deployed to every format."""

    enabled: bool = option(False, "quantize to INT8 (`--int8 ptq|qat` also picks the mode)", flat="int8")
    mode: Literal["auto", "qat", "ptq"] = option("auto", "auto: QAT when the data can train, else PTQ",
                                                 flat="int8_mode")
    backend: Literal["auto", "pt2e", "nncf"] = option(
        "auto", "auto: pt2e, and NNCF's bias-corrected PTQ for MobileNetV3/EfficientNet", flat="quant_backend")
    calib_samples: int = option(256, "calibration images (PTQ, and QAT's initial ranges)", ge=1)
    calib_observer: Literal["auto", "histogram", "minmax", "batch-mean"] = option(
        "auto", "PTQ activation ranges: histogram (XNNPACK's), minmax, or batch-mean (the mean of each calibration "
                "batch's min/max); auto: batch-mean for DynamicConv models, else histogram")
    max_drop: float | None = option(None, "max top-1 points lost vs FP32 on the exported file; the most "
                                          "sensitive layers stay float", ge=0)
    qat_epochs: float = option(1.0, "QAT epochs; a fraction trains on that share of an epoch (e.g. 0.25)", ge=0)
    qat_lr: float = option(1e-4, "QAT learning rate", gt=0)
    qat_bn: Literal["freeze", "update"] = option(
        "freeze", "QAT's BatchNorm statistics: freeze (the input model's, as deployed; dropout off too) or update "
                  "them from the training batches")

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_alias(cls, value: Any) -> Any:
        return _canonical(value, QUANT_BACKENDS)


class ExportOptions(Section):
    """The files to write and how each is verified in its runtime against PyTorch."""

    formats: list[str] = option(lambda: FORMATS.names(), f"comma list of {', '.join(FORMATS.names())}")
    tflite_io: Literal["int8", "float"] = option("int8", "interface of an int8 .tflite: int8 in/out, or float "
                                                         "in/out around the integer graph")
    onnx_int8_weights: Literal["auto", "int8", "uint8"] = option(
        "auto", "weights of an int8 .onnx: int8 (onnxruntime's u8·s8 kernels), uint8 (u8·u8, exact on x86 "
                "without VNNI, where u8·s8 saturates); auto: uint8 on such hosts, else int8")
    parity_samples: int = option(32, "images compared with PyTorch per file", ge=1)
    parity_atol: float = option(1e-3, "max |logit difference| of an FP32 file (int8 files: a share of the range)",
                                gt=0)
    min_agreement_fp32: float = option(100.0, "min % of validation images whose top-1 matches PyTorch, FP32 "
                                              "files (near-ties excepted)", ge=0, le=100)
    min_agreement_int8: float = option(99.0, "min % of validation images whose top-1 matches the quantized "
                                             "PyTorch model, int8 files (near-ties excepted)", ge=0, le=100)

    @field_validator("formats", mode="before")
    @classmethod
    def _known_formats(cls, value: Any) -> Any:
        names = _comma_list(value)
        if not isinstance(names, list):
            return names
        if not names:
            raise ValueError("--formats is empty; choose from " + ", ".join(FORMATS.names()))
        unknown = [name for name in names if name not in FORMATS]
        if unknown:
            raise ValueError(FORMATS.unknown_message(unknown[0]))
        return list(dict.fromkeys(FORMATS.canonical(name) for name in names))


class BenchOptions(Section):
    """Latency in each file's own runtime: warm-up, timed runs, threads and CPU pinning."""

    enabled: bool = option(True, "time every verified file (interleaved with its FP32 baseline)", flat="bench")
    threads: int = option(1, "inference threads", ge=1)
    runs: int = option(50, "timed runs per file", ge=1)
    warmup: int = option(10, "untimed warm-up runs", ge=0)
    warmup_seconds: float = option(0.0, "keep warming up at least this long (s)", ge=0)
    min_seconds: float = option(0.0, "keep timing at least this long (s), beyond --runs", ge=0)
    cpus: str | None = option(None, "pin the measuring process to CPUs, e.g. 0 or 0,2 or 0-3")
    device: str = option("local", "where to time files: local | ssh:USER@HOST[:PORT] | ssh:ALIAS | adb:SERIAL | a "
                         "name in devices.yaml", flat="device")
    devices: str | None = option(None, "devices.yaml naming devices (default: ./devices.yaml, "
                                 "~/.config/edgekit/devices.yaml)", flat="devices")


class BudgetOptions(Section):
    """The CI gate: size, latency and accuracy budgets checked on the finished report."""

    file: Path | None = option(None, "budget YAML to gate the run on (exit 1 violated, 3 inconclusive)",
                               flat="budget")


#: section name -> options model, in the order the help and the docs show them
SECTIONS: dict[str, type[Section]] = {
    "data": DataOptions, "teacher": TeacherOptions, "train": TrainOptions, "prune": PruneOptions,
    "attention": AttentionOptions,
    "recover": RecoverOptions, "int8": Int8Options, "export": ExportOptions, "bench": BenchOptions,
    "budget": BudgetOptions,
}
#: the help panel of each section
PANELS: dict[str, str] = {
    "data": "Data", "teacher": "Teacher weights", "train": "Training", "prune": "Pruning",
    "attention": "Efficient attention",
    "recover": "Recovery (distillation / fine-tuning)", "int8": "INT8 quantization", "export": "Export and verify",
    "bench": "Benchmark", "budget": "Budget gate",
}


def flat_name(section: str, field: str) -> str:
    """The pre-nesting key of `section.field`: its `flat` alias, else the field name itself."""
    extra = SECTIONS[section].model_fields[field].json_schema_extra or {}
    return extra.get("flat", field)
