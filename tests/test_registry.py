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


def test_on_first_use_runs_once_before_the_first_lookup_and_may_add():
    calls = []

    def load():
        calls.append(len(calls))
        registry.add("plugged", 3)
        assert registry.names() == ["early", "plugged"]  # a lookup from inside the hook does not run it again

    registry: Registry[int] = Registry("widget", on_first_use=load)
    registry.add("early", 1)
    assert registry.lookup("early") == 1 and registry.lookup("plugged") is None and not calls
    assert registry.get("plugged") == 3 and len(registry) == 2 and calls == [0]
    assert "early" in registry and list(registry.items()) == [("early", 1), ("plugged", 3)] and calls == [0]


def test_remove_forgets_the_name_and_its_aliases():
    registry = make()
    assert registry.remove("alpha") == 1
    assert "alpha" not in registry and "a" not in registry and registry.names() == ["beta_two"]
    registry.add("a", 3)
