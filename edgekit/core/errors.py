"""The user-facing error type (and its out-of-disk/memory kind); the CLI formats it as a single line."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUDGET = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERNAL = 4  # a bug: edgekit or a library it drives crashed


class EdgekitError(Exception):
    """An error printed as one line; exit code 2 (the user can fix it) unless told otherwise."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


#: how an export error for a model torch.export cannot trace begins (the user's model must change: exit code 2)
UNTRACEABLE = "the model cannot be traced for"


class UntraceableModel(EdgekitError):
    """torch.export could not trace the model (Python control flow on a tensor's value, an op it cannot capture).
    The message names the format, the cause and the model's line: 'the model cannot be traced for FORMAT: …'."""


class ResourceError(EdgekitError):
    """The disk or the memory ran out: the user can fix it (exit code 2), but no later step can go on."""


def missing_extra(module: str, extra: str) -> EdgekitError:
    """Error for an optional dependency that is not installed."""
    return EdgekitError(f"'{module}' is not installed; install it with: pip install 'edgekit[{extra}]'")


def require_modules(modules: tuple[str, ...], extra: str) -> None:
    """Raise `missing_extra` for the first of `modules` that is not installed."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(module, extra)


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first non-empty line of an exception's message (its type name when it has none), cut to `limit`."""
    line = next((text.strip() for text in str(exc).splitlines() if text.strip()), type(exc).__name__)
    return line[:limit] if limit else line
