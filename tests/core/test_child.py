"""core.child: a native crash, a Python exception or a hang in the child is one error line here; results come back."""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import os
import signal
import subprocess
import sys
import time

import pytest
from tmpfs import fill, mounted

from edgekit.core import child
from edgekit.core.child import ChildError, run_isolated
from edgekit.core.errors import EXIT_INTERNAL, EXIT_USAGE, EdgekitError, ResourceError

pytestmark = pytest.mark.skipif(not child.available(), reason="forked children are Linux-only")


def _llvm_abort():
    faulthandler.disable()  # pytest's would print the child's Python stack on the test's stderr
    os.write(2, b"LLVM ERROR: IO failure on output stream\nPLEASE submit a bug report\n#0 0x7f00 in abort\n")
    os.abort()


def test_an_abort_is_one_line_with_exit_code_4(tmp_path):
    with pytest.raises(EdgekitError) as caught:
        run_isolated(_llvm_abort, what="tflite export of 'm.tflite'", writes=(tmp_path,))
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_INTERNAL and not isinstance(caught.value, ResourceError)
    assert "\n" not in message
    assert message.startswith("tflite export of 'm.tflite' crashed (SIGABRT: LLVM ERROR: IO failure on output stream)")


def test_a_segfault_is_one_line_with_exit_code_4():
    with pytest.raises(EdgekitError, match=r"^reading address 0 crashed \(SIGSEGV") as caught:
        run_isolated(ctypes.string_at, what="reading address 0", args=(0,), on_start=faulthandler.disable)
    assert caught.value.exit_code == EXIT_INTERNAL and "\n" not in str(caught.value)


def test_a_native_exit_without_a_result_is_a_crash():
    def exit_natively():
        os.write(2, b"LLVM ERROR: out of range\n")
        os._exit(1)

    with pytest.raises(EdgekitError, match=r"^convert crashed \(exit status 1: LLVM ERROR: out of range\)") as caught:
        run_isolated(exit_natively, what="convert")
    assert caught.value.exit_code == EXIT_INTERNAL


def test_a_crash_on_a_full_disk_says_disk_full_with_exit_code_2(tmp_path):
    with mounted(tmp_path / "disk", "3m") as disk:
        fill(disk, 64 * 1024)
        with pytest.raises(ResourceError) as caught:
            run_isolated(_llvm_abort, what="tflite export of 'm.tflite'", writes=(tmp_path, disk))
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE and "\n" not in message
    assert message.startswith("tflite export of 'm.tflite' stopped (SIGABRT: LLVM ERROR")
    assert f"the disk is full, '{disk}' has 0.1 MiB free" in message


def test_sigkill_reads_as_out_of_memory():
    with pytest.raises(ResourceError, match=r"^work was killed \(SIGKILL\), most likely out of memory "
                                            r"\(\d+\.\d MiB of memory available now\)") as caught:
        run_isolated(lambda: os.kill(os.getpid(), signal.SIGKILL), what="work")
    assert caught.value.exit_code == EXIT_USAGE


def test_a_python_exception_comes_back_with_its_type_and_first_line():
    def fail():
        raise ValueError("the width must be even\nsecond line")

    with pytest.raises(ValueError, match=r"^the width must be even$"):
        run_isolated(fail, what="work")


def test_an_edgekit_error_keeps_its_class_and_exit_code():
    def fail(kind):
        raise kind("over budget", 3)

    for kind in (EdgekitError, ResourceError):
        with pytest.raises(kind, match="^over budget$") as caught:
            run_isolated(fail, what="work", args=(kind,))
        assert type(caught.value) is kind and caught.value.exit_code == 3


def test_an_exception_that_cannot_be_rebuilt_keeps_its_name():
    class ConverterError(Exception):
        def __init__(self, op, reason):
            super().__init__(f"{op}: {reason}")

    def fail():
        raise ConverterError("CONV_2D", "bad padding")

    with pytest.raises(ChildError, match=r"^ConverterError: CONV_2D: bad padding$"):
        run_isolated(fail, what="work")


def test_sys_exit_in_the_child_does_not_end_this_process():
    with pytest.raises(ChildError, match=r"^SystemExit: 3$"):
        run_isolated(sys.exit, what="work", args=(3,))


def test_the_result_comes_back_after_on_start_ran_in_the_child():
    started = []

    def work(x, scale):
        return {"pid": os.getpid(), "values": [x * scale], "started": list(started)}

    result = run_isolated(work, what="work", args=(2,), kwargs={"scale": 3}, on_start=lambda: started.append(True))
    assert result["values"] == [6] and result["started"] == [True]
    assert result["pid"] != os.getpid() and started == []  # the hook ran in the child only


def test_a_result_that_cannot_be_sent_back_is_an_error():
    """Results come back as JSON: nothing the child sends is unpickled."""
    with pytest.raises(TypeError, match="not JSON serializable"):
        run_isolated(lambda: lambda: None, what="work")


def test_what_the_child_prints_on_stderr_is_passed_on(capfd):
    assert run_isolated(lambda: os.write(2, b"XNNPACK: delegate created\n"), what="work") > 0
    assert "XNNPACK: delegate created" in capfd.readouterr().err


def test_a_hang_is_stopped_at_the_timeout(tmp_path):
    pid_file = tmp_path / "pid"

    def hang():
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)

    start = time.monotonic()
    with pytest.raises(EdgekitError, match=r"^work did not finish within 1 s and was stopped$") as caught:
        run_isolated(hang, what="work", timeout=1)
    assert time.monotonic() - start < 10 and caught.value.exit_code == EXIT_INTERNAL
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(int(pid_file.read_text()), 0)


def _collect_and_report_pid() -> int:
    gc.collect()
    return os.getpid()


def test_the_child_never_collects_garbage_it_inherited(tmp_path):
    """Unreachable objects the parent left (an onnxruntime session in a cycle) must not be destroyed in the child:
    their native threads are gone there, and destroying one hangs."""
    marker = tmp_path / "collected_in"

    class Cycle:
        def __del__(self):
            marker.write_text(str(os.getpid()))

    gc.disable()
    try:
        garbage = Cycle()
        garbage.self = garbage
        del garbage
        child_pid = run_isolated(_collect_and_report_pid, what="collect")
        assert child_pid != os.getpid() and not marker.exists()
        gc.collect()
    finally:
        gc.enable()
    assert marker.read_text() == str(os.getpid())  # this process still collects it


def test_without_fork_the_function_runs_here(monkeypatch):
    monkeypatch.setattr(child, "available", lambda: False)
    started = []
    assert run_isolated(os.getpid, what="work", on_start=lambda: started.append(True)) == os.getpid()
    assert started == []


def test_the_module_imports_no_torch():
    code = "import sys, edgekit.core.child; assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
