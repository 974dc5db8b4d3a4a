"""Keep a QAT model's fake-quantizer ranges fixed while it is validated."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def frozen_observers(model: torch.nn.Module):
    """Fake-quantizers keep their ranges while inside; yields how many were frozen.

    A QAT fake-quantizer observes every tensor it sees, in eval mode too, so validating a QAT model would fit its
    ranges to the validation images (and change them between the evaluation and the conversion). Each module's
    own `observer_enabled` flag (as torch's and torchao's fake-quantizers keep it) is cleared here and restored after.
    """
    flags = [(m, m.observer_enabled.clone()) for m in model.modules()
             if isinstance(getattr(m, "observer_enabled", None), torch.Tensor)]
    for module, _ in flags:
        module.observer_enabled.fill_(0)
    try:
        yield len(flags)
    finally:
        for module, flag in flags:
            module.observer_enabled.copy_(flag)
