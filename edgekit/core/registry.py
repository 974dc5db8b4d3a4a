"""One registry type for models, datasets, formats, runtimes and devices."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from edgekit.core.errors import EdgekitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object map with aliases and did-you-mean errors.

    `on_first_use` (e.g. importing plugins that add entries) runs once, before the first lookup or listing;
    `add` never triggers it, so what it imports can register.
    """

    def __init__(self, kind: str, listing_hint: str = "", on_first_use: Callable[[], None] | None = None):
        self.kind = kind
        self.listing_hint = listing_hint
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._on_first_use = on_first_use

    def _ready(self) -> None:
        hook, self._on_first_use = self._on_first_use, None  # cleared first: the hook itself may look things up
        if hook is not None:
            hook()

    def add(self, name: str, obj: T, aliases: tuple[str, ...] = ()) -> T:
        """Register `obj` under `name` (and `aliases`); duplicates are a programming error."""
        for key in (name, *aliases):
            if key in self._items or key in self._aliases:
                raise ValueError(f"{self.kind} '{key}' registered twice")
        self._items[name] = obj
        for alias in aliases:
            self._aliases[alias] = name
        return obj

    def lookup(self, key: str) -> T | None:
        """The entry registered as exactly `key` (a name or an alias), without running `on_first_use`."""
        return self._items.get(self._aliases.get(key, key))

    def remove(self, name: str) -> T:
        """Unregister `name` and its aliases (tests that register throwaway entries clean up with it)."""
        obj = self._items.pop(name)
        self._aliases = {alias: target for alias, target in self._aliases.items() if target != name}
        return obj

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorator(obj: T) -> T:
            return self.add(name, obj, aliases)

        return decorator

    def canonical(self, name: str) -> str:
        """The registered name for `name` or one of its aliases; raises with a did-you-mean."""
        self._ready()
        key = name.strip()
        if key in self._items:
            return key
        if key in self._aliases:
            return self._aliases[key]
        lowered = key.lower().replace("-", "_")
        for candidate in (*self._items, *self._aliases):
            if candidate.lower().replace("-", "_") == lowered:
                return self._aliases.get(candidate, candidate)
        raise EdgekitError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        """One line naming the unknown entry and the closest known ones."""
        self._ready()
        close = difflib.get_close_matches(name, [*self._items, *self._aliases], n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = f"known: {', '.join(sorted(self._items))}" if len(self._items) <= 12 else f"{len(self._items)} known"
        listing = f"; {self.listing_hint}" if self.listing_hint else ""
        return f"unknown {self.kind} '{name}'{hint} ({known}{listing})"

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def __contains__(self, name: str) -> bool:
        try:
            self.canonical(name)
        except EdgekitError:
            return False
        return True

    def names(self) -> list[str]:
        self._ready()
        return list(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._ready()
        return iter(list(self._items.items()))

    def __len__(self) -> int:
        self._ready()
        return len(self._items)
