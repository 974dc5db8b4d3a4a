"""Data-dependent control flow a model can switch on for export (a protocol, not a base class).

A module implementing `use_control_flow(enabled: bool)` computes a dense form by default (every branch, selected
per input: what eager PyTorch, quantization and formats without control flow get) and, switched on, real control
flow (`torch.cond`: a skipped block is not computed). Its `control_flow_name` says what that realises in reports
("block skipping"). Exporters switch it on for the formats whose table row has `control_flow=True`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol, runtime_checkable

import torch


@runtime_checkable
class ControlFlowModel(Protocol):
    def use_control_flow(self, enabled: bool) -> None: ...


def control_flow_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, ControlFlowModel)]


def control_flow_name(model: torch.nn.Module) -> str | None:
    """What the model's control flow realises ('block skipping'), or None for a model without any."""
    modules = control_flow_modules(model)
    if not modules:
        return None
    return next((str(m.control_flow_name) for m in modules if getattr(m, "control_flow_name", None)),
                "data-dependent control flow")


@contextlib.contextmanager
def control_flow(model: torch.nn.Module, enabled: bool) -> Iterator[str | None]:
    """Switch the model's control flow on (or keep the dense form) while exporting; back to dense afterwards.
    Yields `control_flow_name(model)`."""
    modules = control_flow_modules(model)
    for module in modules:
        module.use_control_flow(enabled)
    try:
        yield control_flow_name(model)
    finally:
        for module in modules:
            module.use_control_flow(False)


REALISED = " realised in "  # in every note below: reports pick them out by it


def control_flow_note(what: str, fmt: str, realised: bool) -> str:
    """The exporter's note on a model with control flow."""
    if realised:
        return f"{what}{REALISED}{fmt}: data-dependent control flow (torch.cond), skipped work is not computed"
    return f"{what} not{REALISED}{fmt}: the file computes the dense form (every branch, selected per input)"
