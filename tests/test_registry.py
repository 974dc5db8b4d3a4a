import pytest

from edgekit.core.errors import EdgekitError
from edgekit.core.registry import Registry


def make():
    registry: Registry[int] = Registry("widget")
    registry.add("alpha", 1, aliases=("a",))
    registry.add("beta_two", 2)
    return registry


def test_lookup_by_name_alias_and_spelling():
    registry = make()
    assert registry.get("alpha") == 1
    assert registry.get("a") == 1
    assert registry.get("Beta-Two") == 2
    assert "a" in registry and "gamma" not in registry


def test_unknown_name_suggests_the_closest():
    with pytest.raises(EdgekitError, match="unknown widget 'alpah'; did you mean 'alpha'"):
        make().get("alpah")


def test_duplicate_registration_is_refused():
    registry = make()
    with pytest.raises(ValueError):
        registry.add("a", 3)
