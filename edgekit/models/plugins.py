"""Models beyond the timm zoo: `@edgekit.register_model`, the in-tree families and third-party plugins.

A plugin is a module whose `@register_model` functions run when it is imported: each module of
edgekit.models.families, the modules named by installed packages' `edgekit.models` entry points, and
`--model-module NAME|FILE.py`. The model registry imports the families and the entry points once, lazily, before
its first lookup or listing; a checkpoint names the module its model came from, imported again to rebuild it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from edgekit.core.errors import EdgekitError, first_line
from edgekit.models.zoo import MODELS, TIMM_SOURCE, ModelSpec

ENTRY_POINT_GROUP = "edgekit.models"
FAMILIES = "edgekit.models.families"
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def register_model(fn: Callable | None = None, *, name: str | None = None, family: str | None = None,
                   img_size: int = 224, img_multiple: int = 1, mean: Iterable[float] | None = None,
                   std: Iterable[float] | None = None, interpolation: str | None = None,
                   crop_pct: float | None = None, notes: str = "", aliases: Iterable[str] = ()) -> Callable:
    """Register `fn(num_classes, img_size, **kwargs) -> nn.Module` as a model every edgekit command takes.

    `name` defaults to the function's name, `family` to its module's last part; `img_size` is the default input
    size and `img_multiple` what sizes must be a multiple of. `mean`/`std`/`interpolation`/`crop_pct` set the
    preprocessing of a module without timm's data config (ImageNet's otherwise). The factory also gets
    `drop_path_rate` (--drop-path) and `pretrained=True` (--pretrained) when it takes them. Usable bare
    (`@register_model`) or with arguments; returns the function unchanged.
    """

    def decorator(factory: Callable) -> Callable:
        if not callable(factory):
            raise EdgekitError(f"@register_model decorates a function returning an nn.Module, not {factory!r}")
        module = str(getattr(factory, "__module__", ""))
        spec = ModelSpec(name or getattr(factory, "__name__", ""), None, family or module.rpartition(".")[2],
                         img_size, img_multiple, notes, factory, module, _triple(mean, "mean", factory),
                         _triple(std, "std", factory), interpolation, crop_pct)
        _check(spec)
        _add(spec, tuple(aliases))
        return factory

    return decorator(fn) if fn is not None else decorator


def _where(factory: Callable) -> str:
    return f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"


def _triple(values: Iterable[float] | None, what: str, factory: Callable) -> tuple[float, float, float] | None:
    if values is None:
        return None
    try:
        triple = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        triple = ()
    if len(triple) != 3:
        raise EdgekitError(f"@register_model of {_where(factory)}: {what} must be 3 numbers (R, G, B), "
                           f"not {values!r}")
    return triple  # type: ignore[return-value]


def _check(spec: ModelSpec) -> None:
    """Metadata a factory's author got wrong: one line naming the factory."""
    where = f"@register_model of {_where(spec.factory)}"
    try:
        inspect.signature(spec.factory).bind(num_classes=1, img_size=1)
    except TypeError:
        raise EdgekitError(f"{where}: the factory must take (num_classes, img_size, **kwargs)") from None
    except ValueError:
        pass  # no signature to read (a builtin): the call itself will tell
    if not _NAME.fullmatch(spec.name):
        raise EdgekitError(f"{where}: '{spec.name}' is not a model name (letters, digits, _ . -)")
    for what, value in (("img_size", spec.img_size), ("img_multiple", spec.img_multiple)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise EdgekitError(f"{where}: {what} must be a positive integer, not {value!r}")
    if spec.img_size % spec.img_multiple:
        raise EdgekitError(f"{where}: img_size {spec.img_size} is not a multiple of img_multiple {spec.img_multiple}")
    if spec.std is not None and min(spec.std) <= 0:
        raise EdgekitError(f"{where}: std must be positive, not {spec.std}")
    if spec.interpolation is not None and spec.interpolation not in INTERPOLATIONS:
        raise EdgekitError(f"{where}: interpolation must be one of {', '.join(INTERPOLATIONS)}, "
                           f"not {spec.interpolation!r}")
    if spec.crop_pct is not None and not 0 < spec.crop_pct <= 1:
        raise EdgekitError(f"{where}: crop_pct must be in (0, 1], not {spec.crop_pct}")


def registrant(spec: ModelSpec) -> str:
    """Who registered `spec`, for messages."""
    return "edgekit's timm zoo" if not spec.plugin else f"'{spec.arch}'"


def _add(spec: ModelSpec, aliases: tuple[str, ...]) -> None:
    for key in (spec.name, *aliases):
        other = MODELS.lookup(key)
        if other is not None:
            raise EdgekitError(f"model '{key}' is registered twice: by {registrant(other)} and by {registrant(spec)}"
                               " (give one another name=... in @register_model)")
    MODELS.add(spec.name, spec, aliases=aliases)


def load_plugins() -> None:
    """The in-tree families, then every installed `edgekit.models` entry point (MODELS runs this once)."""
    package = importlib.import_module(FAMILIES)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            full = f"{FAMILIES}.{module.name}"
            _import(full, "model family", functools.partial(importlib.import_module, full))
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _import(point.name, f"entry point {point.value}", point.load)


def load_modules(names: Iterable[str], origin: str = "--model-module") -> None:
    """Import each module (a dotted name, or a .py file) so that its `@register_model` functions register."""
    for name in names:
        _import(name, origin, functools.partial(import_plugin, name, origin))


def import_plugin(name: str, origin: str = "--model-module") -> Any:
    """`name` as a dotted import name (the current directory is searched too), or a path to a .py file."""
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise EdgekitError(f"{origin} '{name}': no such file")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = path.stem
    elif os.getcwd() not in sys.path and "" not in sys.path:  # a console script does not search the current dir
        sys.path.append(os.getcwd())
    return importlib.import_module(name)


def _import(name: str, origin: str, load: Callable[[], Any]) -> None:
    """Run `load`; any failure is one line naming the plugin (EDGEKIT_DEBUG=1 shows the traceback)."""
    try:
        load()
    except EdgekitError:
        raise  # already one line naming the plugin's factory (bad metadata, a name registered twice)
    except Exception as exc:  # a plugin can fail in any way while importing
        raise EdgekitError(f"model plugin '{name}' ({origin}) failed to import: "
                           f"{type(exc).__name__}: {first_line(exc, 200)}") from exc


def ensure_registered(name: str, source: str, where: str) -> None:
    """Before rebuilding a model recorded by `where` (a checkpoint): import the plugin module it came from, when
    neither the entry points nor --model-module registered it."""
    if source != TIMM_SOURCE and not name.startswith("timm:") and name not in MODELS:
        load_modules([source], origin=f"the module {where} was built with")


def fingerprint(spec: ModelSpec) -> str | None:
    """sha256 of the source file defining a plugin's factory (editing it invalidates cached stages); None for
    timm models and factories without a file."""
    if not spec.plugin:
        return None
    try:
        return hashlib.sha256(Path(inspect.getsourcefile(spec.factory) or "").read_bytes()).hexdigest()
    except (OSError, TypeError):
        return None
