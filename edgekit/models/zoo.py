"""The model zoo: short names users know, mapped to timm architectures (and models that plugins register)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from edgekit.core.registry import Registry

TIMM_SOURCE = "timm"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: a timm architecture or a plugin's factory, at which input size, normalised how."""

    name: str
    timm_id: str | None  # None for a plugin's model (its `factory` builds it)
    family: str
    img_size: int = 224
    #: input sizes must be a multiple of this (window/patch constraints)
    img_multiple: int = 32
    notes: str = ""
    #: a plugin's `fn(num_classes, img_size, **kwargs) -> nn.Module` (edgekit.models.plugins.register_model)
    factory: Callable | None = None
    #: "timm" for the zoo, else the module that registered the model (imported again to rebuild a checkpoint)
    source: str = TIMM_SOURCE
    #: preprocessing for a model without timm's data config (None: ImageNet's, as timm defaults)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    #: keyword arguments for the factory or timm.create_model (`--model-arg`), sorted (key, value) pairs
    args: tuple[tuple[str, Any], ...] = ()

    def with_args(self, args: dict[str, Any]) -> "ModelSpec":
        """This model built with `args` (--model-arg KEY=VALUE) as well."""
        return dataclasses.replace(self, args=tuple(sorted({**dict(self.args), **args}.items())))

    @property
    def arch(self) -> str:
        """The architecture's id: the timm name, or `module:function` of a plugin's factory."""
        if self.timm_id is not None:
            return self.timm_id
        return f"{self.factory.__module__}:{self.factory.__qualname__}"

    @property
    def plugin(self) -> bool:
        return self.source != TIMM_SOURCE


def _load_plugins() -> None:
    from edgekit.models.plugins import load_plugins

    load_plugins()


#: the zoo below, then (on first use) edgekit.models.families and the `edgekit.models` entry points' models
MODELS: Registry[ModelSpec] = Registry("model", listing_hint="list them with `edgekit models`",
                                       on_first_use=_load_plugins)


def _add(name: str, timm_id: str, family: str, img_size: int = 224, img_multiple: int = 32,
         notes: str = "", aliases: tuple[str, ...] = ()) -> None:
    MODELS.add(name, ModelSpec(name, timm_id, family, img_size, img_multiple, notes), aliases=aliases)


# EfficientNet, EfficientNet-Lite, EfficientNetV2
for _i, _size in enumerate((224, 240, 260, 300)):
    _add(f"effnet_b{_i}", f"efficientnet_b{_i}", "efficientnet", _size, aliases=(f"efficientnet_b{_i}",))
for _i, _size in enumerate((224, 240, 260, 280, 300)):
    _add(f"effnet_lite{_i}", f"efficientnet_lite{_i}", "efficientnet-lite", _size,
         aliases=(f"efficientnet_lite{_i}",))
_add("effnetv2_b0", "tf_efficientnetv2_b0", "efficientnetv2", 192)
# CondConv EfficientNets (Yang et al., 2019, "CondConv: Conditionally Parameterized Convolutions", arXiv:1904.04971):
# per-input mixtures of expert kernels. torch-pruning cannot prune their CondConv2d and ONNX cannot take its
# batch-folded convolution (edgekit.pruning.handlers, edgekit.exporters.refusals); tflite and pte export
_CONDCONV = "CondConv, {} experts (Yang et al., 2019, arXiv:1904.04971); no --prune, no onnx"
for _name, _size, _experts in (("efficientnet_cc_b0_4e", 224, 4), ("efficientnet_cc_b0_8e", 224, 8),
                               ("efficientnet_cc_b1_8e", 240, 8)):
    _add(_name.replace("efficientnet_", "effnet_"), _name, "condconv", _size,
         notes=_CONDCONV.format(_experts), aliases=(_name,))
# MobileViT
for _v in ("xxs", "xs", "s"):
    _add(f"mobilevit_{_v}", f"mobilevit_{_v}", "mobilevit", 256)
for _v in ("050", "100"):
    _add(f"mobilevitv2_{_v}", f"mobilevitv2_{_v}", "mobilevitv2", 256)
# MobileNet
_add("mbv2_100", "mobilenetv2_100", "mobilenetv2", aliases=("mobilenetv2_100",))
_add("mbv3_large", "mobilenetv3_large_100", "mobilenetv3", aliases=("mobilenetv3_large_100",))
_add("mbv3_small", "mobilenetv3_small_100", "mobilenetv3", aliases=("mobilenetv3_small_100",))
_add("mbv4_conv_small", "mobilenetv4_conv_small", "mobilenetv4", aliases=("mobilenetv4_conv_small",))
# ResNet, RegNet, ConvNeXt
_add("resnet18", "resnet18", "resnet")
_add("resnet50", "resnet50", "resnet")
_add("regnetx_002", "regnetx_002", "regnet")
for _v in ("atto", "femto", "pico"):
    _add(f"convnext_{_v}", f"convnext_{_v}", "convnext")
# Vision transformers
_add("deit_tiny", "deit_tiny_patch16_224", "deit", img_multiple=16)
_add("deit_small", "deit_small_patch16_224", "deit", img_multiple=16)
_add("vit_tiny", "vit_tiny_patch16_224", "vit", img_multiple=16)
_add("swin_tiny", "swin_tiny_patch4_window7_224", "swin")
# Efficient hybrids and mobile-first designs
_add("efficientformer_l1", "efficientformer_l1", "efficientformer", img_multiple=224,
     notes="its attention biases are sized for 7x7 tokens at stride 32, so it runs at 224 px only")
_add("fastvit_t8", "fastvit_t8", "fastvit", 256)
_add("ghostnet_100", "ghostnet_100", "ghostnet")
_add("repvit_m1", "repvit_m1", "repvit")
_add("edgenext_xx_small", "edgenext_xx_small", "edgenext", 256)
_add("levit_128s", "levit_128s", "levit", img_multiple=16)
_add("tiny_vit_5m", "tiny_vit_5m_224", "tinyvit")
_add("mobileone_s0", "mobileone_s0", "mobileone")
_add("botnet26t", "botnet26t_256", "botnet", 256, img_multiple=32)
_add("coatnet_0", "coatnet_0_rw_224", "coatnet", img_multiple=32)
# timm's tiny test architectures: the real code paths at a fraction of the cost (CI, demos)
_add("test_effnet", "test_efficientnet", "test", 160)
_add("test_vit", "test_vit", "test", 160, img_multiple=16)
_add("test_convnext", "test_convnext", "test", 160)
_add("test_resnet", "test_resnet", "test", 160)

TIMM_PREFIX = "timm:"


def resolve(name: str) -> ModelSpec:
    """Registered name/alias, or `timm:<any timm architecture>`."""
    if name.startswith(TIMM_PREFIX):
        import timm

        from edgekit.core.errors import EdgekitError

        timm_id = name[len(TIMM_PREFIX):]
        if not timm.is_model(timm_id):
            import difflib

            close = difflib.get_close_matches(timm_id, timm.list_models(), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise EdgekitError(f"timm has no architecture '{timm_id}'{hint}")
        cfg = timm.get_pretrained_cfg(timm_id)
        size = int(cfg.input_size[-1]) if cfg is not None else 224
        return ModelSpec(name, timm_id, "timm", size, 1)
    return MODELS.get(name)
