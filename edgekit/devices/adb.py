"""Android phones over adb: the official runtime benchmark binaries, pinned with taskset, parsed into edgekit's
statistics.

.tflite files run in LiteRT's `benchmark_model`, .pte files in ExecuTorch's `executor_runner`. Files go to
/data/local/tmp/edgekit (pushed only when their sha256 is new). Timing runs in rounds of a few runs per file,
the order reversed every round (A B, B A, ...), so a baseline or reference sees the same drift and thermal
state. `executor_runner` prints every iteration: per-run samples. `benchmark_model` prints one stats line per
run: each round gives one sample (its median, or its mean before LiteRT printed medians), and the statistics it
cannot give (per-run samples, p90, p99) are named in the report, not invented.
"""

from __future__ import annotations

import logging
import math
import shlex
import time
from pathlib import Path

import numpy as np

from edgekit.devices.base import DEVICE_KINDS, Check, DeviceError, FileTiming, TimingRequest
from edgekit.devices.config import cpu_list
from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers.benchmark_model import parse_benchmark_model
from edgekit.devices.parsers.executor_runner import parse_executor_runner
from edgekit.devices.parsers.telemetry import parse_cpuinfo, parse_dumpsys_thermal, parse_getprop
from edgekit.devices.remote import RemoteDevice
from edgekit.devices.transport import Completed, Transient, run
from edgekit.runtimes.worker import FLAGS

log = logging.getLogger(__name__)
ROUND_RUNS = 5  # runs per file per round
ADB_EVAL_SAMPLES = 100  # validation images run through executor_runner on a phone, one invocation each
TRANSIENT = ("device offline", "no devices/emulators found", "closed", "protocol fault", "connection reset",
             "device still authorizing", "Broken pipe")
BINARIES = {
    "tflite": ("benchmark_model", "LiteRT's benchmark_model for Android: android_aarch64_benchmark_model from "
               "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/nightly/"
               "latest/ (set binaries: {benchmark_model: PATH} in devices.yaml)"),
    "pte": ("executor_runner", "ExecuTorch's executor_runner built for Android with XNNPACK (cmake "
            "-DEXECUTORCH_BUILD_XNNPACK=ON with the NDK toolchain; see ExecuTorch's 'Building from source'; set "
            "binaries: {executor_runner: PATH} in devices.yaml)"),
}
PROPERTIES = ("ro.product.model", "ro.soc.manufacturer", "ro.soc.model", "ro.board.platform",
              "ro.build.version.release", "ro.build.version.sdk", "ro.product.cpu.abi")


class AdbDevice(RemoteDevice):
    kind = "adb"
    formats = ("tflite", "pte")
    default_base = "/data/local/tmp/edgekit"

    def _adb(self) -> list[str]:
        serial = self.settings.adb
        return [str(Path(self.settings.adb_path).expanduser()), *(["-s", serial] if serial else [])]

    def _checked(self, result: Completed) -> Completed:
        text = result.stderr + result.stdout
        if result.returncode != 0 and any(t in text for t in TRANSIENT):
            raise Transient(result.last_error_line())
        if result.returncode != 0 and ("not found" in text and "device" in text or "unauthorized" in text):
            raise DeviceError(f"adb {self.settings.adb or ''}: {result.last_error_line()} (see `adb devices`; "
                              "accept the USB debugging prompt on the phone)")
        return result

    def _shell(self, command: str, timeout: float, stdin: bytes | None = None) -> Completed:
        return self._checked(run([*self._adb(), "shell", command], timeout, f"adb shell on {self.label}"))

    def _push(self, local: Path, remote: str, timeout: float) -> None:
        result = self._checked(run([*self._adb(), "push", str(local), remote], timeout, f"adb push to {self.label}"))
        if result.returncode != 0:
            raise DeviceError(f"{self.label}: adb push {local.name} failed: {result.last_error_line()}")

    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        result = self._checked(run([*self._adb(), "pull", remote, str(local)], timeout, f"adb pull from {self.label}"))
        if result.returncode != 0:
            raise DeviceError(f"{self.label}: adb pull {remote} failed: {result.last_error_line()}")

    # --- binaries --------------------------------------------------------------------------------------------

    def binary(self, fmt: str) -> str:
        """The device path of the benchmark binary for `fmt`: pushed from devices.yaml's local path when it is a
        local file, else the device path it names (default /data/local/tmp/<name>)."""
        name, where = BINARIES[fmt]
        configured = self.settings.binaries.get(name)
        if configured and Path(configured).expanduser().is_file():
            remote = self.ensure_files([Path(configured).expanduser()])[0]
            self.shell(f"chmod 755 {shlex.quote(remote)}", what=f"preparing {name} on {self.label}")
            return remote
        remote = configured or f"/data/local/tmp/{name}"
        found = self.shell(f"[ -x {shlex.quote(remote)} ] && echo yes; true", what=f"looking for {name}")
        if found.stdout.strip() != "yes":
            raise DeviceError(f"{self.label} has no {name} at {remote}: get {where}")
        return remote

    def _pin(self, cpus: list[int] | None = None) -> str:
        """`taskset MASK ` for the CPUs asked for (else devices.yaml's `cpus:`); nothing when none are set."""
        cpus = cpus or cpu_list(self.settings.cpus)
        return f"taskset {sum(1 << c for c in cpus):x} " if cpus else ""

    # --- timing ----------------------------------------------------------------------------------------------

    def time_files(self, files: list[tuple[Path, str]], request: TimingRequest,
                   images: np.ndarray | None = None) -> list[FileTiming]:
        self.check_formats([fmt for _, fmt in files])
        cpus = request.cpus or cpu_list(self.settings.cpus)
        remote_files = self.ensure_files([path for path, _ in files])
        binaries = [self.binary(fmt) for _, fmt in files]
        before, note = self.cool_down(self.temperatures)
        rounds = max(1, math.ceil(request.runs / ROUND_RUNS))
        per_file: list[list] = [[] for _ in files]
        index, start = 0, time.monotonic()
        while index < rounds or time.monotonic() - start < request.min_seconds:
            order = range(len(files)) if index % 2 == 0 else reversed(range(len(files)))
            runs = min(ROUND_RUNS, request.runs - index * ROUND_RUNS) if index < rounds else ROUND_RUNS
            for i in order:
                per_file[i].append(self._round(files[i][1], binaries[i], remote_files[i], request, index == 0, runs,
                                               cpus))
            index += 1
        after = self.temperatures()
        self._last_env = {"thermal_c_before": before, "thermal_c": after}
        timings = [self._timing(path, fmt, printed, request, cpus, note, images)
                   for (path, fmt), printed in zip(files, per_file)]
        if images is not None:
            for timing, binary, remote in zip(timings, binaries, remote_files):
                if timing.format == "pte":
                    timing.outputs = self._outputs(binary, remote, images[:ADB_EVAL_SAMPLES], request.threads, cpus)
                    if len(images) > ADB_EVAL_SAMPLES:
                        timing.notes.append(f"accuracy on the phone from the first {ADB_EVAL_SAMPLES} images (one "
                                            "executor_runner run each)")
        return timings

    def _outputs(self, binary: str, remote: str, images: np.ndarray, threads: int, cpus) -> np.ndarray:
        """Logits of each image from `executor_runner --inputs IMAGE.bin --print_output all` on the phone."""
        logits = []
        for index, image in enumerate(images):
            local = Path(self._local_scratch()) / f"image_{index}.bin"
            local.write_bytes(np.ascontiguousarray(image[None], dtype=np.float32).tobytes())
            target = f"{self.run_dir}/{local.name}"
            self._push(local, target, self.settings.timeout)
            argv = [binary, f"--model_path={remote}", f"--inputs={target}", "--num_executions=1",
                    f"--cpu_threads={threads}", "--print_output=all"]
            result = self.shell(f"cd {shlex.quote(self.run_dir)} && {self._pin(cpus)}{shlex.join(argv)} 2>&1",
                                what=f"executor_runner on {self.label}")
            try:
                printed = parse_executor_runner(result.stdout).outputs
            except ParseError as exc:
                raise DeviceError(f"{self.label}: executor_runner printed no outputs for {Path(remote).name}: "
                                  f"{result.last_error_line()}") from exc
            if not printed or printed[0].values is None:
                raise DeviceError(f"{self.label}: executor_runner printed no output values for {Path(remote).name}")
            logits.append(np.asarray(printed[0].values, dtype=np.float32).reshape(-1))
            self.shell(f"rm -f {shlex.quote(target)}", what=f"cleaning up on {self.label}")
        return np.stack(logits)

    def _round(self, fmt: str, binary: str, remote: str, request: TimingRequest, first: bool, runs: int,
               cpus: list[int] | None):
        """One invocation of the binary: the first round warms up as asked, later ones with one untimed run."""
        warmup = max(1, request.warmup) if first else 1
        if fmt == "tflite":
            argv = [binary, f"--graph={remote}", f"--num_threads={request.threads}", "--use_xnnpack=true",
                    f"--num_runs={runs}", f"--warmup_runs={warmup}", "--min_secs=0",
                    f"--warmup_min_secs={request.warmup_seconds if first else 0}", "--max_secs=150"]
        else:
            argv = [binary, f"--model_path={remote}", f"--num_executions={warmup + runs}",
                    f"--cpu_threads={request.threads}", "--print_output=none"]
        command = f"cd {shlex.quote(self.run_dir)} && {self._pin(cpus)}{shlex.join(argv)} 2>&1"
        result = self.shell(command, what=f"{Path(binary).name} on {self.label}")
        try:
            parsed = parse_benchmark_model(result.stdout) if fmt == "tflite" else parse_executor_runner(result.stdout)
        except ParseError as exc:
            raise DeviceError(f"{self.label}: {Path(binary).name} could not time {Path(remote).name} "
                              f"(exit {result.returncode}): {result.last_error_line()}") from exc
        return parsed, warmup

    def _timing(self, path: Path, fmt: str, rounds: list, request: TimingRequest, cpus, note,
                images) -> FileTiming:
        notes = [note] if note else []
        if fmt == "pte":
            samples = [s for parsed, warm in rounds for s in list(parsed.samples_ms)[warm:]]
            first = rounds[0][0]
            cold = {"load_ms": first.load_ms, "process": "executor_runner"}
            unavailable = [] if samples else ["per-run samples"]
            kind = "per-run"
        else:
            samples = [(p.timed.median_ms if p.timed.median_ms is not None else p.timed.avg_ms)
                       for p, _ in rounds if p.timed is not None]
            first = rounds[0][0]
            has_median = all(p.timed is not None and p.timed.median_ms is not None for p, _ in rounds)
            kind = f"per-round {'median' if has_median else 'mean'} of up to {ROUND_RUNS} runs"
            unavailable = sorted(set(first.unavailable) & {"per-run samples", "p90", "p99", "median"})
            cold = {"load_ms": first.init_ms, "first_run_ms": first.first_ms, "process": "benchmark_model",
                    "peak_rss_mb": first.peak_memory_mb, "footprint_mb": first.overall_footprint_mb}
            notes += list(first.delegate_notes)
        if images is not None and fmt == "tflite":
            notes.append(f"accuracy not measured on device {self.label}: benchmark_model returns no outputs")
        return FileTiming(path=path, format=fmt, samples=samples, cold_start=cold, runtime=BINARIES[fmt][0],
                          cpus=cpus, sample_kind=kind, unavailable=unavailable, notes=notes, throttled=note is not None,
                          versions={BINARIES[fmt][0]: "device binary"})

    # --- environment -----------------------------------------------------------------------------------------

    def _properties(self) -> dict[str, str]:
        listing = self.shell("getprop", timeout=30.0, what=f"reading {self.label}'s properties")
        try:
            props = parse_getprop(listing.stdout)
        except ParseError:
            return {}
        return {key: props[key] for key in PROPERTIES if props.get(key)}

    def environment(self) -> dict:
        props = self._properties()
        probe = self.shell("cat /proc/cpuinfo; echo '--governor--'; cat "
                           "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null | sort | uniq -c; "
                           "echo '--online--'; cat /sys/devices/system/cpu/online 2>/dev/null; echo '--thermal--'; "
                           "dumpsys thermalservice 2>/dev/null; true", timeout=60.0,
                           what=f"reading {self.label}'s environment")
        cpuinfo, _, rest = probe.stdout.partition("--governor--")
        governors, _, rest = rest.partition("--online--")
        online, _, thermal = rest.partition("--thermal--")
        try:
            cpu = parse_cpuinfo(cpuinfo, FLAGS)
            model, flags = cpu.model, cpu.flags
        except ParseError:
            model, flags = props.get("ro.soc.model", "unknown"), []
        status = None
        try:
            status = parse_dumpsys_thermal(thermal)
        except ParseError:
            pass
        env = {"cpu": props.get("ro.soc.model") or model, "flags": flags, "cores": None,
               "cores_online": online.strip() or None, "governor": " ".join(governors.split()) or None,
               "platform": f"Android {props.get('ro.build.version.release', '?')}", "android": props,
               "thermal_status": status.status_name if status else None,
               "throttling": status.throttling if status else None, "device": self.label}
        return {**getattr(self, "_last_env", {}), **env}

    def doctor(self) -> list[Check]:
        try:
            self.open()
        except Exception as exc:  # noqa: BLE001 - doctor reports every failure as a line
            return [Check("reachable", False, str(exc), "connect the phone, enable USB debugging, run adb devices")]
        checks = [Check("reachable", True, f"adb {self.settings.adb or '(the only device)'}")]
        try:
            env = self.environment()
            props = env["android"]
            checks.append(Check("device", True, f"{props.get('ro.product.model', '?')}, SoC "
                                                f"{props.get('ro.soc.model') or props.get('ro.board.platform', '?')}, "
                                                f"{env['platform']} (SDK {props.get('ro.build.version.sdk', '?')})"))
            checks.append(Check("governor", "performance" in (env["governor"] or "performance"),
                                env["governor"] or "unreadable", "rooted phones: set the performance governor; "
                                "otherwise pin to the big cores (cpus: in devices.yaml) and cool down"))
            temps = self.temperatures()
            hottest = max(temps.values()) if temps else None
            checks.append(Check("temperature", not env["throttling"], f"thermal status {env['thermal_status']}, "
                                f"hottest zone {hottest} °C", "let the phone cool down (unplug the charger)"))
            for fmt, (name, where) in BINARIES.items():
                try:
                    checks.append(Check(name, True, self.binary(fmt)))
                except DeviceError as exc:
                    checks.append(Check(name, False, str(exc).split(": get ")[0], f"get {where}"))
        finally:
            self.close()
        return checks


DEVICE_KINDS.add("adb", AdbDevice)
