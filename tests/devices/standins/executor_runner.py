"""A stand-in for ExecuTorch's `executor_runner` (xnn_executor_runner), for tests:
`python executor_runner.py --model_path=m.pte --num_executions=5 --print_output=all --inputs=x.bin`.

It really runs the .pte through `executorch.runtime` and prints what
examples/portable/executor_runner/executor_runner.cpp prints (pytorch/executorch @ cff6f4dd, 2026-08): ET_LOG lines
``I HH:MM:SS.micro executorch:executor_runner.cpp:LINE] msg`` on stderr (time since start, that commit's line
numbers), outputs on stdout in the `--print_output` mode's format (`all`: ``Output[i][j]: (float) %f``; `summary`:
``OutputX i: tensor(sizes=[...], [...])`` with the first and last 100 values, 6 significant digits).

Flags: --model_path --num_executions --cpu_threads --print_output none|summary|all --inputs --method_name, as
gflags parses them (``--flag=value`` or ``--flag value``; an unknown flag ends the run). --inputs semantics as in
the real tool: a comma-separated list of raw binary files, one per method input in order, each exactly the input
tensor's byte size (native-endian, the input's dtype); without it every input is all ones. Failed checks log an
``F`` line and abort (SIGABRT) like ET_CHECK_MSG. Not modelled: the "Setting up CPU planned buffer" lines (the
Python API does not expose planned buffer sizes), --data_path, --etdump_path, --output_file, server mode.
"""

from __future__ import annotations

import math
import os
import sys
import time

START_NS = time.perf_counter_ns()  # the PAL's clock (et_pal_init): time stamps count from here
FILE = "executor_runner.cpp"
# ET_LOG call lines in executor_runner.cpp at pytorch/executorch cff6f4dd
LINE = {"extra": 312, "print_output": 324, "threadpool": 340, "inputs": 393, "load_inputs": 405,
        "open_input": 156, "file_loader": 461, "parse": 473, "loaded_file": 476, "method": 486, "loaded": 624,
        "prepare": 751, "iteration": 779, "executed": 789, "outputs": 798}
FLAGS = {"model_path": "model.pte", "num_executions": "1", "cpu_threads": "-1", "print_output": "summary",
         "inputs": "", "method_name": ""}
# ExecuTorch ScalarType codes -> (numpy dtype name, name in "all" mode or None when that mode skips it)
SCALAR_TYPES = {0: ("uint8", None), 1: ("int8", "char"), 2: ("int16", None), 3: ("int32", "int"),
                4: ("int64", None), 5: ("float16", None), 6: ("float32", "float"), 7: ("float64", None),
                11: ("bool", "bool")}
EDGE_ITEMS, ITEMS_PER_LINE = 100, 10


def et_log(level: str, message: str, line: int, file: str = FILE) -> None:
    """The posix PAL's et_pal_emit_log_message format."""
    us = (time.perf_counter_ns() - START_NS) // 1000
    sec, micro = divmod(us, 1_000_000)
    minute, sec = divmod(sec, 60)
    hour, minute = divmod(minute, 60)
    sys.stderr.write(f"{level} {hour:02d}:{minute:02d}:{sec:02d}.{micro:06d} executorch:{file}:{line}] {message}\n")
    sys.stderr.flush()


def check_failed(condition: str, message: str, line: int) -> None:
    """ET_CHECK_MSG: a Fatal line, then runtime_abort()."""
    et_log("F", f"In function main(), assert failed ({condition}): {message}", line)
    sys.stdout.flush()
    os.abort()


def parse_gflags(argv: list[str]) -> tuple[dict, list[str]]:
    values, rest, i = dict(FLAGS), [], 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            rest.append(arg)
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if name not in FLAGS:
            sys.stderr.write(f"ERROR: unknown command line flag '{name}'\n")
            sys.exit(1)
        if not sep:
            if i >= len(argv):
                sys.stderr.write(f"ERROR: flag '{arg}' is missing its argument\n")
                sys.exit(1)
            value, i = argv[i], i + 1
        values[name] = value
    for name in ("num_executions", "cpu_threads"):
        try:
            int(values[name])
        except ValueError:
            sys.stderr.write(f"ERROR: illegal value '{values[name]}' specified for int32 flag '{name}'\n")
            sys.exit(1)
    return values, rest


def fmt_double(value: float) -> str:
    """print_evalue.cpp's print_double: ostream default (%g-like) and a trailing '.' for integral values."""
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = f"{value:g}"
    if value == 0.0 or text == str(int(value)):
        return text + "."
    return text


def fmt_item(value, kind: str) -> str:
    if kind == "b":
        return "True" if value else "False"
    if kind in "iu":
        return str(int(value))
    return fmt_double(float(value))


def scalar_list(items: list[str], elide: bool) -> str:
    """print_scalar_list with edge items 100 and 10 items a line."""
    edge = EDGE_ITEMS if elide else len(items) + 1
    count = len(items)
    wrapping = min(count, edge * 2) > ITEMS_PER_LINE if elide else count > ITEMS_PER_LINE
    out, printed, i = ["["], 0, 0
    while i < count:
        if wrapping and printed % ITEMS_PER_LINE == 0:
            out.append("\n  ")
        out.append(items[i])
        if wrapping or i < count - 1:
            out.append(", ")
        printed += 1
        if i + 1 == edge and i + edge + 1 < count:
            if wrapping:
                out.append("\n  ...,")
                printed = ITEMS_PER_LINE - edge % ITEMS_PER_LINE
                if printed % ITEMS_PER_LINE != 0:
                    out.append("\n  ")
            else:
                out.append("..., ")
            i = count - edge - 1
        i += 1
    if wrapping:
        out.append("\n")
    out.append("]")
    return "".join(out)


def print_summary(outputs) -> None:
    for index, tensor in enumerate(outputs):
        array = tensor.detach().numpy()
        sizes = scalar_list([str(d) for d in array.shape], elide=False)
        data = scalar_list([fmt_item(v, array.dtype.kind) for v in array.ravel().tolist()], elide=True)
        sys.stdout.write(f"OutputX {index}: tensor(sizes={sizes}, {data})\n")


def print_all(outputs) -> None:
    for index, tensor in enumerate(outputs):
        array = tensor.detach().numpy().ravel()
        kind = {"float32": "float", "int32": "int", "int8": "char", "bool": "bool"}.get(str(array.dtype))
        for j, value in enumerate(array.tolist()):
            if kind == "float":
                sys.stdout.write(f"Output[{index}][{j}]: (float) {value:f}\n")
            elif kind in ("int", "char"):
                sys.stdout.write(f"Output[{index}][{j}]: ({kind}) {int(value)}\n")
            elif kind == "bool":
                sys.stdout.write(f"Output[{index}][{j}]: (bool) {'true ' if value else 'false'} (0x{int(value):x})\n")


def read_inputs(spec: str) -> list[bytes]:
    et_log("I", "Loading inputs from input file(s).", LINE["inputs"])
    buffers = []
    for path in spec.split(","):
        try:
            with open(path, "rb") as handle:
                buffers.append(handle.read())
        except OSError:
            et_log("E", f"Failed to open input file: {path}", LINE["open_input"])
            check_failed("load_status == Error::Ok", "Could not load inputs: 0x22", LINE["load_inputs"])
    return buffers


def prepare_inputs(meta, buffers: list[bytes]):
    """extension/runner_util/inputs.cpp prepare_input_tensors: ones, or the files' bytes (sizes must match)."""
    import numpy as np
    import torch

    count = meta.num_inputs()
    if buffers and len(buffers) != count:
        et_log("E", f"Wrong number of inputs allocated compared to method  {count} ? {len(buffers)}", 37,
               "inputs.cpp")
        check_failed("res.ok()", "Could not prepare inputs: 0x12", LINE["prepare"])
    tensors = []
    for i in range(count):
        info = meta.input_tensor_meta(i)
        dtype = np.dtype(SCALAR_TYPES.get(int(info.dtype()), ("float32", None))[0])
        shape = tuple(int(d) for d in info.sizes())
        if buffers:
            if len(buffers[i]) != info.nbytes():
                et_log("E", f"input size ({len(buffers[i])}) and tensor size ({info.nbytes()}) mismatch!", 178,
                       "inputs.cpp")
                check_failed("res.ok()", "Could not prepare inputs: 0x12", LINE["prepare"])
            array = np.frombuffer(buffers[i], dtype=dtype).reshape(shape).copy()
        else:
            array = np.ones(shape, dtype=dtype)
        tensors.append(torch.from_numpy(array))
    return tensors


def main(argv: list[str]) -> int:
    flags, rest = parse_gflags(argv)
    if rest:
        et_log("E", "Extra commandline args: " + " ".join(rest), LINE["extra"])
        return 1
    mode = flags["print_output"]
    if mode not in ("none", "summary", "all"):
        et_log("E", f"Unknown --print_output mode '{mode}'. Expected 'none', 'summary', or 'all'.",
               LINE["print_output"])
        return 1
    threads = int(flags["cpu_threads"])
    threads = (os.cpu_count() or 1) if threads == -1 else threads
    et_log("I", f"Resetting threadpool with num threads = {threads}", LINE["threadpool"])
    buffers = read_inputs(flags["inputs"]) if flags["inputs"] else []
    path = flags["model_path"]
    if not os.path.isfile(path):
        et_log("E", f"Failed to open {path}: No such file or directory (2)", 110, "file_data_loader.cpp")
        check_failed("file_loader.ok()", "FileDataLoader::from() failed: 0x22", LINE["file_loader"])

    # imported this late so that the checks above answer at once, like the native binary
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if threads > 0 and portable_lib._threadpool_get_thread_count() != threads:  # noqa: SLF001
        portable_lib._unsafe_reset_threadpool(threads)  # noqa: SLF001
    before_load = time.perf_counter_ns()
    try:
        program = Runtime.get().load_program(path)
    except (RuntimeError, ValueError):
        et_log("E", f"Failed to parse model file {path}", LINE["parse"])
        return 1
    et_log("I", f"Model file {path} is loaded.", LINE["loaded_file"])
    names = sorted(program.method_names)
    method_name = flags["method_name"] or ("forward" if "forward" in names else names[0])
    et_log("I", f"Using method {method_name}", LINE["method"])
    method = program.load_method(method_name)
    after_load = time.perf_counter_ns()
    if method is None:
        check_failed("method.ok()", f"Loading of method {method_name} failed with status 0x20", 617)
    et_log("I", f"Model loaded in {(after_load - before_load) / 1e6:f} ms.", LINE["loaded"])

    executions = int(flags["num_executions"])
    spent_ns, outputs = 0, []
    for i in range(executions):
        inputs = prepare_inputs(method.metadata, buffers)
        before = time.perf_counter_ns()
        outputs = method.execute(inputs)
        elapsed = time.perf_counter_ns() - before
        spent_ns += elapsed
        et_log("I", f"Iteration {i + 1} of {executions}: {elapsed / 1e6:f} ms", LINE["iteration"])
    et_log("I", f"Model executed successfully {executions} time(s) in {spent_ns / 1e6:f} ms.", LINE["executed"])
    count = method.metadata.num_outputs()
    et_log("I", f"{count} outputs: ", LINE["outputs"])
    if executions == 0:
        return 0
    if mode == "all":
        print_all(outputs)
    elif mode == "summary":
        print_summary(outputs)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
