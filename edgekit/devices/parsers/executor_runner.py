"""ExecuTorch `executor_runner` (and `xnn_executor_runner`, the same source linked with XNNPACK).

Log lines come from ET_LOG on stderr, ``I 00:00:05.833558 executorch:executor_runner.cpp:564] <message>`` (the
posix PAL), ``I [executorch:file.cpp:12 main()] <message>`` (Arm/Zephyr PALs), logcat's ``ExecuTorch`` tag on
Android, or with no time stamp; the messages are found anywhere in a line. Outputs go to stdout:

* ``--print_output summary`` (the default) and every release before the flag existed:
  ``OutputX 0: tensor(sizes=[1, 10], [v, v, ...])`` (``Output 0:`` in the oldest releases), wrapped ten values a
  line past ten values and elided with ``...`` past 2×100 values; each value is printed with 6 significant digits.
* ``--print_output all`` (``--print_all_output`` before it): one ``Output[i][j]: (float) %f`` line per element
  (6 decimals, the shape is not printed), ``(int)``, ``(char)`` and ``(bool) true /false`` likewise, and
  ``Output[i]: Not Tensor`` for other values.

Timing lines across releases: ``Model loaded in X ms.`` and ``Iteration i of n: X ms`` (newest),
``Model executed successfully N time(s) in X ms.`` (since --num_executions), ``Model executed successfully.``
(oldest: no timing at all).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers._text import NUMBER, excerpt, finite, require_text, whole

TOOL = "executor_runner"

_MODEL_FILE = re.compile(r"Model file (.+?) is loaded\.")
_METHOD = re.compile(r"Using method (\S+)")
_THREADS = re.compile(r"Resetting threadpool with num threads = (\d+)")
_BUFFER = re.compile(r"Setting up (?:CPU )?planned buffer (\d+), size (\d+)\.")
_LOADED = re.compile(rf"Model loaded in ({NUMBER}) ms\.")
_ITERATION = re.compile(rf"Iteration (\d+) of (\d+): ({NUMBER}) ms")
_EXECUTED = re.compile(rf"Model executed successfully (\d+) time\(s\) in ({NUMBER}) ms\.")
_EXECUTED_OLD = re.compile(r"Model executed successfully\.")
_OUTPUT_COUNT = re.compile(r"\] (\d+) outputs: ?$|^(\d+) outputs: ?$|ExecuTorch\s*: (\d+) outputs: ?$")
_ERROR = re.compile(r"^([EF]) (?:\d\d:\d\d:\d\d\.\d+ )?executorch:|^([EF]) \[executorch:")
_LOG_LINE = re.compile(r"executorch:[^\s:]+:\d+[\] ]")
_SUMMARY_OUTPUT = re.compile(r"^(OutputX|Output) (\d+): (.*)$")
_ALL_OUTPUT = re.compile(r"^Output\[(\d+)\]\[(\d+)\]: \((float|int|char|bool)\) (\S+)")
_NOT_TENSOR = re.compile(r"^Output\[(\d+)\]: Not Tensor")
_TENSOR = re.compile(r"^tensor\(sizes=\[([^\]]*)\], \[(.*)\]\)$", re.DOTALL)
_TOKEN = re.compile(rf"^(?:{NUMBER}|True|False|\.\.\.)$", re.IGNORECASE)
_MAX_WRAPPED_LINES = 100_000  # a printed tensor longer than this is not one (bounds the search for its end)


@dataclass(frozen=True, eq=False)
class TensorOutput:
    """One printed output. `values` is float32 (read-only), in the printed shape where the shape was printed.

    `shape` is None in ``--print_output all`` mode (it prints elements, not sizes) and for non-tensor outputs;
    `elided` is True when the summary mode left values out (more than 200 of them): `values` is then None.
    Values keep nan/inf as printed: they are the model's results, not the tool's.
    """

    index: int
    shape: tuple[int, ...] | None
    values: np.ndarray | None
    elided: bool = False
    dtype: str | None = None  # "float", "int", "char", "bool" (all mode) or None (summary mode)
    kind: str = "tensor"  # "tensor" | "other" (a non-tensor EValue)


@dataclass(frozen=True, eq=False)
class ExecutorRunnerOutput:
    """What one executor_runner run printed; times in milliseconds."""

    model_path: str | None
    method: str | None
    threads: int | None
    planned_buffer_bytes: int | None
    load_ms: float | None
    samples_ms: tuple[float, ...]
    executions: int | None
    total_ms: float | None
    output_count: int | None
    outputs: tuple[TensorOutput, ...]
    errors: tuple[str, ...]

    @property
    def mean_ms(self) -> float | None:
        if self.total_ms is None or not self.executions:
            return None
        return self.total_ms / self.executions

    @property
    def unavailable(self) -> tuple[str, ...]:
        """Statistics this output cannot give (report them as missing; never estimate them)."""
        missing = ["warm-up phase", "memory footprint"]  # every execution is timed; no memory is reported
        if not self.samples_ms:
            missing.append("per-run samples")
        if self.load_ms is None:
            missing.append("load time")
        if self.total_ms is None:
            missing.append("total time")
        if not self.outputs:
            missing.append("output values")
        elif any(out.elided for out in self.outputs):
            missing.append("elided output values")
        return tuple(missing)


def parse_executor_runner(text: str) -> ExecutorRunnerOutput:
    """Read executor_runner's stderr and stdout (in either order, or interleaved).

    Raises ParseError when the run did not report "Model executed successfully", when iteration lines disagree
    with the total, when a timing is nan/inf/negative, or when a printed output is cut off or garbled.
    """
    require_text(text, TOOL)
    lines = [line.strip() for line in text.splitlines()]
    info: dict = {"model_path": None, "method": None, "threads": None, "load_ms": None, "executions": None,
                  "total_ms": None, "output_count": None}
    buffers: list[int] = []
    samples: dict[int, float] = {}
    announced: set[int] = set()
    errors: list[str] = []
    succeeded = False
    for line in lines:
        if (error := _ERROR.match(line)) is not None:
            errors.append(line[error.end():].partition("] ")[2] or line)
        succeeded |= _read_log_line(line, info, buffers, samples, announced) or bool(_EXECUTED_OLD.search(line))
    if not succeeded:
        why = f"its error: {excerpt(errors[0])}" if errors else excerpt(text)
        raise ParseError(f"{TOOL} printed no 'Model executed successfully' line ({why})")
    sample_list = _check_samples(samples, announced, info)
    outputs = _outputs(lines)
    count = info["output_count"]
    if outputs and count is not None and len(outputs) != count:
        raise ParseError(f"{TOOL} announced {count} outputs but printed {len(outputs)}; the output is cut off")
    return ExecutorRunnerOutput(
        model_path=info["model_path"], method=info["method"], threads=info["threads"],
        planned_buffer_bytes=sum(buffers) if buffers else None, load_ms=info["load_ms"],
        samples_ms=tuple(sample_list), executions=info["executions"], total_ms=info["total_ms"],
        output_count=count, outputs=tuple(outputs), errors=tuple(errors))


def _read_log_line(line: str, info: dict, buffers: list[int], samples: dict[int, float], announced: set) -> bool:
    """Fold one log line into `info`; True for the "Model executed successfully N time(s)" line."""
    if (match := _ITERATION.search(line)) is not None:
        index, total = _count(match.group(1), line), _count(match.group(2), line)
        if index in samples or not 1 <= index <= total:
            raise ParseError(f"{TOOL} printed a repeated or impossible iteration line ({excerpt(line)})")
        samples[index] = _time(match.group(3), line)
        announced.add(total)
    elif (match := _EXECUTED.search(line)) is not None:
        if info["executions"] is not None:
            raise ParseError(f"{TOOL} output holds two runs; parse one run at a time")
        info["executions"], info["total_ms"] = _count(match.group(1), line), _time(match.group(2), line)
        return True
    elif (match := _LOADED.search(line)) is not None:
        info["load_ms"] = _time(match.group(1), line)
    elif (match := _OUTPUT_COUNT.search(line)) is not None:
        info["output_count"] = _count(next(group for group in match.groups() if group is not None), line)
    elif (match := _BUFFER.search(line)) is not None:
        buffers.append(_count(match.group(2), line))
    elif (match := _MODEL_FILE.search(line)) is not None:
        info["model_path"] = match.group(1)
    elif (match := _METHOD.search(line)) is not None:
        info["method"] = match.group(1)
    elif (match := _THREADS.search(line)) is not None:
        info["threads"] = _count(match.group(1), line)
    return False


def _check_samples(samples: dict[int, float], announced: set[int], info: dict) -> list[float]:
    """The per-iteration times in order, checked against the "executed N time(s) in X ms" line."""
    executions, total = info["executions"], info["total_ms"]
    if not samples:
        return []
    if len(announced) != 1 or executions is None or announced != {executions} or len(samples) != executions:
        raise ParseError(f"{TOOL} printed {len(samples)} iteration lines for {executions} execution(s); "
                         "the output is cut off or mixes runs")
    ordered = [samples[i] for i in range(1, executions + 1)]
    if abs(math.fsum(ordered) - total) > 2e-6 * (executions + 1) + 1e-7 * total:
        raise ParseError(f"{TOOL} iteration times add up to {math.fsum(ordered):.6f} ms, not the reported "
                         f"{total:.6f} ms; the output is garbled")
    return ordered


def _count(token: str, line: str) -> int:
    value = whole(token)
    if value is None:
        raise ParseError(f"{TOOL} printed an impossible count '{excerpt(token, 24)}' ({excerpt(line)})")
    return value


def _time(token: str, line: str) -> float:
    value = finite(token)
    if value is None or value < 0:
        raise ParseError(f"{TOOL} printed an impossible time '{token}' ({excerpt(line)})")
    return value


def _outputs(lines: list[str]) -> list[TensorOutput]:
    """Outputs printed in either mode ("all" wins where an index was printed both ways)."""
    summary = _summary_outputs(lines)
    full = _all_outputs(lines)
    merged = {**summary, **full}
    return [merged[index] for index in sorted(merged)]


def _summary_outputs(lines: list[str]) -> dict[int, TensorOutput]:
    found: dict[int, TensorOutput] = {}
    i = 0
    while i < len(lines):
        match = _SUMMARY_OUTPUT.match(lines[i])
        if match is None:
            i += 1
            continue
        index = _count(match.group(2), lines[i])
        if index in found:
            raise ParseError(f"{TOOL} printed output {index} twice; parse one run at a time")
        body, i = _gather(lines, i, match.group(3), index)
        found[index] = _evalue(index, body)
    return found


def _gather(lines: list[str], start: int, first: str, index: int) -> tuple[str, int]:
    """The whole printed value that starts on line `start` (a tensor wraps over many lines), and the next line."""
    parts, depth, i = [first], first.count("(") - first.count(")"), start + 1
    while depth > 0:
        if i >= len(lines) or i - start > _MAX_WRAPPED_LINES:
            raise ParseError(f"{TOOL} output {index} is cut off before its closing ')'")
        line = lines[i]
        i += 1
        if _LOG_LINE.search(line):  # stderr interleaved with stdout: a log line is never tensor data
            continue
        if _SUMMARY_OUTPUT.match(line) or _ALL_OUTPUT.match(line):
            raise ParseError(f"{TOOL} output {index} is cut off: the next line is '{excerpt(line, 40)}'")
        parts.append(line)
        depth += line.count("(") - line.count(")")
    return "\n".join(parts), i


def _evalue(index: int, body: str) -> TensorOutput:
    match = _TENSOR.match(body)
    if match is None:
        if body.startswith("tensor("):
            raise ParseError(f"{TOOL} output {index} is not a readable tensor ({excerpt(body)})")
        return TensorOutput(index=index, shape=None, values=None, kind="other")
    sizes = [token.strip() for token in match.group(1).split(",") if token.strip()]
    dims = [whole(token) for token in sizes]
    if any(dim is None for dim in dims):
        raise ParseError(f"{TOOL} output {index} has unreadable sizes [{excerpt(match.group(1), 40)}]")
    shape = tuple(dims)
    data = match.group(2)
    if "<unhandled scalar type" in data:
        return TensorOutput(index=index, shape=shape, values=None)
    tokens = [token for token in re.split(r"[\s,]+", data) if token]
    if any(not _TOKEN.match(token) for token in tokens):
        bad = next(token for token in tokens if not _TOKEN.match(token))
        raise ParseError(f"{TOOL} output {index} holds '{excerpt(bad, 20)}', which is not a number")
    elided = "..." in tokens
    numel = math.prod(shape)
    if elided:
        return TensorOutput(index=index, shape=shape, values=None, elided=True)
    if len(tokens) != numel:
        raise ParseError(f"{TOOL} output {index} has {len(tokens)} values for sizes {list(shape)}")
    values = np.array([_element(token) for token in tokens], dtype=np.float32).reshape(shape)
    values.flags.writeable = False
    return TensorOutput(index=index, shape=shape, values=values)


def _element(token: str) -> float:
    lowered = token.lower()
    if lowered == "true":
        return 1.0
    if lowered == "false":
        return 0.0
    try:
        value = float(token)
    except (ValueError, OverflowError):
        return math.nan
    # beyond float32's range: keep it infinite rather than let numpy warn
    return value if math.isnan(value) or abs(value) <= 3.5e38 else math.copysign(math.inf, value)


def _all_outputs(lines: list[str]) -> dict[int, TensorOutput]:
    elements: dict[int, list[tuple[int, float]]] = {}
    dtypes: dict[int, str] = {}
    others: set[int] = set()
    for line in lines:
        match = _ALL_OUTPUT.match(line)
        if match is not None:
            index, position, dtype, token = (_count(match.group(1), line), _count(match.group(2), line), match.group(3),
                                             match.group(4))
            if dtypes.setdefault(index, dtype) != dtype:
                raise ParseError(f"{TOOL} output {index} mixes element types; parse one run at a time")
            elements.setdefault(index, []).append((position, _all_element(dtype, token, line)))
            continue
        match = _NOT_TENSOR.match(line)
        if match is not None:
            others.add(_count(match.group(1), line))
    found: dict[int, TensorOutput] = {}
    for index, pairs in elements.items():
        positions = [position for position, _ in pairs]
        if positions != list(range(len(pairs))):
            raise ParseError(f"{TOOL} output {index} skips or repeats elements; the output is cut off or garbled")
        values = np.array([value for _, value in pairs], dtype=np.float32)
        values.flags.writeable = False
        found[index] = TensorOutput(index=index, shape=None, values=values, dtype=dtypes[index])
    for index in others - set(found):
        found[index] = TensorOutput(index=index, shape=None, values=None, kind="other")
    return found


def _all_element(dtype: str, token: str, line: str) -> float:
    if dtype == "bool":
        if token not in ("true", "false"):
            raise ParseError(f"{TOOL} printed an unreadable bool ({excerpt(line)})")
        return 1.0 if token == "true" else 0.0
    if not re.fullmatch(NUMBER, token, re.IGNORECASE):
        raise ParseError(f"{TOOL} printed an unreadable element ({excerpt(line)})")
    if dtype != "float" and not re.fullmatch(r"[-+]?\d+", token):
        raise ParseError(f"{TOOL} printed a non-integer {dtype} element ({excerpt(line)})")
    return _element(token)
