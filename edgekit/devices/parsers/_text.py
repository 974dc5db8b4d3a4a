"""Text helpers shared by the parsers: numbers that refuse nan/inf, excerpts for error messages, log prefixes."""

from __future__ import annotations

import math

#: a number as C/C++ streams print it: integers, decimals, exponents; nan/inf are matched so callers can refuse them
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)\b"

EXCERPT_CHARS = 80


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first `limit` characters of `text` on one line (whitespace runs collapsed), for error messages."""
    flat = " ".join(text.split())
    if not flat:
        return "empty output"
    return flat if len(flat) <= limit else flat[:limit] + "…"


def finite(token: str | None) -> float | None:
    """`token` as a finite float, or None (absent, unparsable, nan or ±inf)."""
    if token is None:
        return None
    try:
        value = float(token)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


#: more digits than any counter, size or frequency a tool prints (int64 has 19); longer tokens are garbage
MAX_DIGITS = 19


def whole(token: str | None) -> int | None:
    """`token` as a non-negative integer (ASCII digits only, at most MAX_DIGITS of them), or None."""
    if token is None or not token.isascii() or not token.isdigit() or len(token) > MAX_DIGITS:
        return None
    return int(token)


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())


def require_text(text, tool: str) -> None:
    """ParseError unless `text` is a str (callers decode bytes with errors="replace" first)."""
    if not isinstance(text, str):
        from edgekit.devices.parsers import ParseError

        raise ParseError(f"{tool} output must be text, not {type(text).__name__}")
