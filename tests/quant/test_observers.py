"""edgekit's activation observers (edgekit.quant.observers) and how a run picks one (edgekit.quant.scheme)."""

import pytest
import torch

from edgekit.quant import pt2e, scheme
from edgekit.quant.observers import BatchMeanMinMaxObserver


def test_the_range_is_the_mean_of_each_batchs_extremes():
    observer = BatchMeanMinMaxObserver(dtype=torch.qint8, quant_min=-128, quant_max=127)
    batches = [torch.tensor([-1.0, 2.0]), torch.tensor([-3.0, 4.0]), torch.tensor([0.5, 100.0])]
    for batch in batches:
        observer(batch)
    assert observer.min_val.item() == pytest.approx((-1.0 - 3.0 + 0.5) / 3)
    assert observer.max_val.item() == pytest.approx((2.0 + 4.0 + 100.0) / 3)
    observer(torch.empty(0))  # an empty tensor is not a batch
    assert observer.batches == 3


def test_rare_outlier_images_leave_the_typical_ones_resolved(tiny, batches):
    """One calibration image in 32 with 200x the usual input: batch-mean ranges keep the other images closer to the
    float model than min/max or histogram ranges sized for that image."""
    outlier = [b.clone() for b in batches]
    outlier[0][0] *= 200.0

    def error(observer: str) -> float:
        graph = pt2e.capture(tiny, batches[0][:1])
        converted = pt2e.ptq(graph, scheme.xnnpack_quantizer(observer=observer), outlier)
        typical = torch.cat(batches[1:])
        with torch.no_grad():
            return float((converted(typical) - tiny(typical)).abs().mean())

    errors = {name: error(name) for name in scheme.ACTIVATION_OBSERVERS}
    assert errors["batch-mean"] < 0.5 * min(errors["minmax"], errors["histogram"]), errors


def test_auto_picks_batch_mean_for_dynamicconv_families_only():
    from edgekit.models.zoo import resolve

    assert scheme.resolve_observer("auto", resolve("dy_mbv3_small").family) == "batch-mean"
    assert scheme.resolve_observer("auto", resolve("dy_resnet18").family) == "batch-mean"
    assert scheme.resolve_observer("auto", resolve("mbv3_small").family) == "histogram"
    assert scheme.resolve_observer("minmax", resolve("dy_mbv3_small").family) == "minmax"
