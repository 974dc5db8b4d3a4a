"""errors.first_line: the one-line message every user-facing error is built from."""

from __future__ import annotations

from edgekit.core.errors import first_line


def test_first_line_skips_blank_lines_and_cuts():
    exc = ValueError("\n  \n  shape mismatch: 3 vs 4  \ntraceback detail\n")
    assert first_line(exc) == "shape mismatch: 3 vs 4"
    assert first_line(exc, 5) == "shape"


def test_first_line_of_an_empty_message_is_the_type_name():
    # an empty message once raised IndexError inside the error handler itself
    assert first_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("   ")) == "RuntimeError"
