import pytest
import timm

from edgekit.core.errors import EdgekitError
from edgekit.models import MODELS, resolve
from edgekit.models.build import check_img_size, create, probe_forward

REQUIRED = ("effnet_b0 effnet_b1 effnet_b2 effnet_b3 effnet_lite0 effnet_lite1 effnet_lite2 effnet_lite3 effnet_lite4 "
            "effnetv2_b0 mobilevit_xxs mobilevit_xs mobilevit_s mobilevitv2_050 mobilevitv2_100 mbv2_100 mbv3_large "
            "mbv3_small mbv4_conv_small resnet18 resnet50 regnetx_002 convnext_atto convnext_femto convnext_pico "
            "deit_tiny deit_small vit_tiny swin_tiny efficientformer_l1 fastvit_t8 ghostnet_100 repvit_m1 "
            "edgenext_xx_small levit_128s tiny_vit_5m mobileone_s0 botnet26t coatnet_0").split()


def test_every_required_name_is_registered_and_exists_in_timm():
    for name in REQUIRED:
        assert timm.is_model(resolve(name).timm_id), name


def test_unknown_name_gets_did_you_mean():
    with pytest.raises(EdgekitError, match="did you mean 'effnet_lite0'"):
        resolve("efnet_lite0")


def test_any_timm_name_with_prefix():
    spec = resolve("timm:resnet10t")
    assert spec.timm_id == "resnet10t" and spec.img_size == 176


def test_unknown_timm_name():
    with pytest.raises(EdgekitError, match="timm has no architecture 'resnet19'"):
        resolve("timm:resnet19")


@pytest.mark.parametrize("size", [0, 8, 5000])
def test_absurd_sizes_are_refused(size):
    with pytest.raises(EdgekitError, match="--img-size"):
        check_img_size(resolve("resnet18"), size)


def test_patch_multiple_is_enforced():
    with pytest.raises(EdgekitError, match="multiple of 16"):
        check_img_size(resolve("deit_tiny"), 70)


def test_size_dependent_models_are_built_at_the_requested_size():
    spec = resolve("deit_tiny")
    model = create(spec, num_classes=7, img_size=64)
    assert probe_forward(model, spec, 64).shape == (1, 7)


def test_an_architecture_that_cannot_run_at_a_size_says_so():
    spec = resolve("efficientformer_l1")  # attention biases sized for 7x7 tokens
    model = create(spec, num_classes=3, img_size=64)
    with pytest.raises(EdgekitError, match="cannot run at 64 px"):
        probe_forward(model, spec, 64)


def test_registry_has_tiny_test_variants():
    assert {n for n in MODELS.names() if n.startswith("test_")} >= {"test_effnet", "test_vit"}
