"""Structured channel pruning over torch-pruning's dependency graph, with attention handled per family."""

from __future__ import annotations

import difflib
import fnmatch
import logging
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch

from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.options import MAX_PRUNE_RATIO, PRUNE_CRITERIA
from edgekit.core.registry import Registry
from edgekit.models import structure
from edgekit.models.head import classifier_modules
from edgekit.pruning.handlers import handler_for
from edgekit.pruning.layer_pruners import leaf_tracing

log = logging.getLogger(__name__)

#: torch-pruning importance of each criterion the options schema names (edgekit.core.options.PRUNE_CRITERIA)
_IMPORTANCE: dict[str, Callable] = {
    "l2": lambda tp: tp.importance.GroupMagnitudeImportance(p=2),
    "taylor": lambda tp: tp.importance.GroupTaylorImportance(),
    "bn-scale": lambda tp: tp.importance.BNScaleImportance(),
    "lamp": lambda tp: tp.importance.LAMPImportance(p=2),
    "random": lambda tp: tp.importance.RandomImportance(),
}
CRITERIA: Registry[Callable] = Registry("pruning criterion")
for _name, _aliases in PRUNE_CRITERIA.items():
    CRITERIA.add(_name, _IMPORTANCE[_name], aliases=_aliases)
MAX_RATIO = MAX_PRUNE_RATIO


@dataclass
class PruneConfig:
    """What to prune and how; `ratio` is torch-pruning's channel ratio (fraction of channels removed)."""

    ratio: float
    criterion: str = "l2"
    scope: str = "uniform"
    steps: int = 1
    round_to: int = 8
    ignore: list[str] = field(default_factory=list)  # module names or globs kept at full width
    ratios: dict[str, float] = field(default_factory=dict)  # module-name glob -> ratio
    keep_stem: bool = True


class SafeImportance:
    """Wraps a torch-pruning importance: a group whose tensors the graph mis-models (an index beyond a tensor's
    size) is skipped, never pruned; the pruned model is then checked by a forward pass and export parity."""

    def __init__(self, inner):
        self.inner = inner
        self.skipped = 0

    def __call__(self, group, *args, **kwargs):
        try:
            return self.inner(group, *args, **kwargs)
        except IndexError:
            log.debug("skipping a pruning group torch-pruning cannot score", exc_info=True)
            self.skipped += 1
            return None

    def __getattr__(self, name):
        return getattr(self.inner, name)


@dataclass
class Plan:
    """The pruner and what was decided about the model before any channel is removed."""

    pruner: object
    ignored: list[str]
    head_dim_attention: list[torch.nn.Module]
    kept_attention: list[str]
    led: list[torch.nn.Module] = field(default_factory=list)  # `lead`-mode blocks (their `fix` runs after a step)


def match_names(model: torch.nn.Module, patterns: list[str], what: str) -> dict[str, list[str]]:
    """Module names matching each glob; a pattern matching nothing raises with a did-you-mean."""
    names = [n for n, _ in model.named_modules() if n]
    found = {}
    for pattern in patterns:
        hits = [n for n in names if n == pattern or fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise EdgekitError(f"{what} '{pattern}' matches no layer of this model{hint}")
        found[pattern] = hits
    return found


def _stem(model: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d) and module.in_channels == 3:
            return name, module
    return None


def _feeds_residual(pruner, layer: torch.nn.Module) -> bool:
    """Whether `layer`'s output channels are tied to a residual add (keeping them would freeze a whole stage)."""
    dg = pruner.DG
    group = dg.get_pruning_group(layer, dg.get_pruner_of_module(layer).prune_out_channels,
                                 list(range(dg.get_out_channels(layer))))
    for dep, _ in group:
        grad_fn = getattr(dep.target.module, "_grad_fn", None)
        if grad_fn is not None and "Add" in str(grad_fn):
            return True
    return False


def _pruner_class(tp):
    class Pruner(tp.pruner.MetaPruner):
        """MetaPruner that never rounds a group down to nothing: at least `round_to` channels stay."""

        def _round_to(self, n_pruned, current_channels, round_to):
            n_pruned = super()._round_to(n_pruned, current_channels, round_to)
            if current_channels >= round_to and current_channels - n_pruned < round_to:
                n_pruned = current_channels - round_to
            return max(n_pruned, 0)

    return Pruner


def make_pruner(model: torch.nn.Module, config: PruneConfig, example: torch.Tensor) -> Plan:
    """Build torch-pruning's MetaPruner for `model` with classifier, stem, --prune-ignore and attention handled."""
    import torch_pruning as tp

    modules = dict(model.named_modules())
    ignored: dict[str, torch.nn.Module] = {}
    for m in classifier_modules(model):
        ignored.update({n: mod for n, mod in modules.items() if mod is m})
    for hits in match_names(model, config.ignore, "--prune-ignore").values():
        ignored.update({n: modules[n] for n in hits})
    ignored_params, num_heads, head_dim_modules, kept, led, leaders = [], {}, [], [], [], []
    customized: dict[type, object] = {}  # `custom`-mode layers: class -> their torch-pruning pruner
    for name, module in modules.items():
        handler = handler_for(module)
        if handler is None and not hasattr(module, "num_heads"):
            continue
        reason = handler.reason if handler is not None and handler.mode == "refuse" else (
            handler.check(module) if handler is not None and handler.check is not None else None)
        if reason:
            raise EdgekitError(f"--prune: {handler.family} ({type(module).__name__}) cannot be pruned safely yet: "
                               f"{reason}; run without --prune")
        if handler is not None and handler.mode == "custom":
            customized.setdefault(type(module), handler.pruner())
            continue
        if handler is not None and handler.mode == "lead":
            leaders.extend(module.get_submodule(sub) for sub in handler.lead)
            led.append(module)
            continue
        if handler is not None and handler.mode == "head_dim" and name not in ignored:
            num_heads[getattr(module, handler.qkv[0])] = module.num_heads
            head_dim_modules.append(module)
        else:  # keep the inner width: q/k/v projections (or every projection but the output one) are not pruned
            qkv = handler.qkv if handler else tuple(n for n, c in module.named_children()
                                                    if isinstance(c, (torch.nn.Linear, torch.nn.Conv2d))
                                                    and n not in ("proj", "out_proj", "o_proj"))
            if not qkv:  # a block that merely records num_heads: its attention module is handled on its own
                continue
            for sub_name, sub in module.named_modules():
                if sub_name and any(fnmatch.fnmatchcase(sub_name, q) for q in qkv):
                    ignored[f"{name}.{sub_name}" if name else sub_name] = sub
            kept.append(name or type(module).__name__)
        for param in (handler.per_head if handler else ()):
            ignored_params.append(getattr(module, param))
    ratio_dict = {}
    for pattern, hits in match_names(model, list(config.ratios), "prune_ratios key").items():
        for n in hits:
            ratio_dict[modules[n]] = float(config.ratios[pattern])
    # `custom` layers with output channels (a DynamicConv2d) root their own groups, as convolutions do
    roots = {"root_module_types": [torch.nn.Conv2d, torch.nn.Linear, torch.nn.LSTM, *customized]} if customized else {}
    with warnings.catch_warnings(), leaf_tracing(model):
        warnings.simplefilter("ignore")
        pruner = _pruner_class(tp)(
            model, example, importance=SafeImportance(CRITERIA.get(config.criterion)(tp)), global_pruning=config.scope == "global",
            pruning_ratio=config.ratio, pruning_ratio_dict=ratio_dict or None, max_pruning_ratio=0.9,
            iterative_steps=config.steps, ignored_layers=[*ignored.values(), *ignored_params],
            round_to=config.round_to or None, num_heads=num_heads, prune_head_dims=True, prune_num_heads=False,
            customized_pruners=customized or None, **roots)
    _lead_groups(pruner, leaders)
    stem = _stem(model)
    if config.keep_stem and stem is not None and stem[0] not in ignored and not _feeds_residual(pruner, stem[1]):
        pruner.ignored_layers.extend(stem[1].modules())
        ignored[stem[0]] = stem[1]
    return Plan(pruner, sorted(ignored), head_dim_modules, kept, led)


def _lead_groups(pruner, leaders: list[torch.nn.Module]) -> None:
    """Make `leaders` the roots of their pruning groups (see handlers' `lead` mode).

    torch-pruning 1.6.1 builds one group per root layer, visiting layers in the order of its graph's node table and
    skipping any layer an earlier group already covers; moving the leaders to the front of that table makes each
    of them root the group it belongs to. The pruning ratio and --round-to then apply to the leader's width.
    """
    if not leaders:
        return
    table = pruner.DG.module2node
    first = {m: table[m] for m in leaders if m in table}
    reordered = first | {m: node for m, node in table.items() if m not in first}
    table.clear()
    table.update(reordered)


def prune(model: torch.nn.Module, config: PruneConfig, example: torch.Tensor,
          before_step: Callable[[int], None] | None = None,
          after_step: Callable[[int], None] | None = None) -> tuple[dict, dict, Plan]:
    """Prune `model` in place in `config.steps` steps; returns (recorded changes, snapshot before, plan)."""
    if config.criterion not in CRITERIA:
        raise EdgekitError(CRITERIA.unknown_message(config.criterion))
    model.eval()
    before = structure.snapshot(model)
    plan = make_pruner(model, config, example)
    for step in range(config.steps):
        if before_step is not None:
            before_step(step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan.pruner.step()
        fix_attributes(model, plan)
        model.zero_grad(set_to_none=True)
        check_forward(model, example)
        if after_step is not None:
            after_step(step)
    return structure.diff(model, before), before, plan


def fix_attributes(model: torch.nn.Module, plan: Plan) -> None:
    """Module attributes follow the pruned shapes (head_dim, scale, a ghost module's out_chs …)."""
    for module in [*plan.head_dim_attention, *plan.led]:
        handler = handler_for(module)
        if handler.fix is not None:
            handler.fix(module)


def check_forward(model: torch.nn.Module, example: torch.Tensor) -> None:
    """The pruned model must still run and return one logits row per image; else name the family and stop."""
    try:
        with torch.no_grad():
            out = model.eval()(example)
    except Exception as exc:
        log.debug("pruned forward failed", exc_info=True)
        raise EdgekitError(f"--prune broke {type(model).__name__} ({type(exc).__name__}: "
                           f"{first_line(exc, 160)}); this family cannot be pruned safely yet") from exc
    if not isinstance(out, torch.Tensor) or out.shape[0] != example.shape[0] or not torch.isfinite(out).all():
        raise EdgekitError(f"--prune: {type(model).__name__} gives invalid outputs after pruning; not shipped")
