"""Record the structure a pruning pass changed, as JSON-able data, and replay it on a freshly built model.

A record lists, per module, the plain attributes that changed (``in_channels``, ``num_heads``, ``scale`` …) and
the new shapes of its parameters and buffers. Replaying sets those attributes and swaps in empty tensors of the
recorded shapes; the checkpoint's safetensors then fill every persistent tensor, checked shape by shape. Buffers
outside the state dict (non-persistent index tables) are recorded by value.
"""

from __future__ import annotations

import torch

from edgekit.core.errors import EdgekitError

_PLAIN = (bool, int, float, str)


def _plain(value):
    """`value` as JSON-able data when it is a plain attribute, else None."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, _PLAIN) for v in value):
        return list(value)
    return None


def snapshot(model: torch.nn.Module) -> dict[str, dict]:
    """Per module: plain attributes and the shapes of its own parameters and buffers."""
    result = {}
    for name, module in model.named_modules():
        attrs = {}
        for key, value in vars(module).items():
            if key.startswith("_") or key == "training":
                continue
            plain = _plain(value)
            if plain is not None:
                attrs[key] = plain
        tensors = {k: list(p.shape) for k, p in module.named_parameters(recurse=False)}
        tensors.update({k: list(b.shape) for k, b in module.named_buffers(recurse=False) if b is not None})
        result[name] = {"attrs": attrs, "tensors": tensors}
    return result


def diff(model: torch.nn.Module, before: dict[str, dict]) -> dict[str, dict]:
    """What changed in `model` since `before` (a `snapshot`): {module: {attrs, tensors, values}}."""
    after = snapshot(model)
    modules = dict(model.named_modules())
    changes = {}
    for name, now in after.items():
        if name not in before:
            raise EdgekitError(f"pruning added module '{name}'; edgekit can only record width changes")
        old = before[name]
        attrs = {k: v for k, v in now["attrs"].items() if old["attrs"].get(k) != v}
        tensors = {k: v for k, v in now["tensors"].items() if old["tensors"].get(k) != v}
        if not attrs and not tensors:
            continue
        module = modules[name]
        values = {k: module._buffers[k].tolist() for k in tensors
                  if k in module._buffers and k in module._non_persistent_buffers_set}
        changes[name] = {"attrs": attrs, "tensors": tensors, **({"values": values} if values else {})}
    return changes


def replay(model: torch.nn.Module, changes: dict[str, dict]) -> None:
    """Apply recorded `changes` to a freshly built `model` (weights are loaded afterwards)."""
    modules = dict(model.named_modules())
    for name, change in changes.items():
        module = modules.get(name)
        if module is None:
            raise EdgekitError(f"recorded pruning edit names module '{name}', which this model does not have")
        for key, value in change.get("attrs", {}).items():
            current = getattr(module, key, None)
            setattr(module, key, tuple(value) if isinstance(current, tuple) else value)
        values = change.get("values", {})
        for key, shape in change.get("tensors", {}).items():
            if key in module._parameters and module._parameters[key] is not None:
                old = module._parameters[key]
                module._parameters[key] = torch.nn.Parameter(old.new_empty(shape), requires_grad=old.requires_grad)
            elif key in module._buffers and module._buffers[key] is not None:
                old = module._buffers[key]
                module._buffers[key] = (torch.tensor(values[key], dtype=old.dtype) if key in values
                                        else old.new_zeros(shape))
            else:
                raise EdgekitError(f"recorded pruning edit names tensor '{name}.{key}', which this model does not have")


def widths(changes: dict[str, dict], before: dict[str, dict]) -> list[dict]:
    """Per-layer output width before/after for the report (layers whose weight changed)."""
    rows = []
    for name, change in changes.items():
        shape = change["tensors"].get("weight")
        old = before[name]["tensors"].get("weight")
        if shape and old:
            rows.append({"layer": name, "before": old[0], "after": shape[0],
                         "in_before": old[1] if len(old) > 1 else None, "in_after": shape[1] if len(shape) > 1 else None})
    return rows
