"""Linux boards over ssh (Jetson, Raspberry Pi, any Linux machine): edgekit's one-file worker runs there.

The worker (edgekit/runtimes/worker.py) is copied to the device and times each file with the host's own timing
code, returning every sample, so reports, statistics and the gate are the same as for local runs. ssh runs with
the user's keys, agent and ~/.ssh/config (BatchMode: it never asks for a password), one multiplexed connection
per run, keep-alives, and a timeout on every call. $EDGEKIT_SSH_OPTIONS adds options (e.g. `-F FILE` in CI).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import tempfile
from pathlib import Path

import numpy as np

from edgekit.devices.base import DEVICE_KINDS, Check, DeviceError, DeviceLost, FileTiming, TimingRequest, governor_check
from edgekit.devices.config import cpu_list
from edgekit.devices.parsers import ParseError
from edgekit.devices.parsers.telemetry import parse_jetson_clocks, parse_nvpmodel, parse_tegrastats
from edgekit.devices.remote import RemoteDevice
from edgekit.devices.transport import Completed, Transient, run
from edgekit.runtimes import worker

log = logging.getLogger(__name__)
SSH_FAILED = 255  # ssh's own exit code: the connection, not the remote command, failed
NOT_TRANSIENT = ("Permission denied", "Host key verification failed", "Could not resolve hostname",
                 "No such file or directory", "Bad configuration option", "REMOTE HOST IDENTIFICATION HAS CHANGED")
FIXES = {
    "Permission denied": "add your public key to the device's ~/.ssh/authorized_keys (ssh-copy-id) or load it "
                         "into ssh-agent; edgekit never asks for passwords",
    "Host key verification failed": "connect once with plain ssh to accept the device's host key",
    "Could not resolve hostname": "check the host name, or name the device in ~/.ssh/config",
}


class SshDevice(RemoteDevice):
    kind = "ssh"
    formats = ("onnx", "tflite", "pte")

    def _ssh_argv(self) -> list[str]:
        control = Path(tempfile.gettempdir()) / f"edgekit-ssh-{os.getuid()}"
        control.mkdir(mode=0o700, exist_ok=True)
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5",
                "-o", "ServerAliveCountMax=3", "-o", "ControlMaster=auto", "-o", f"ControlPath={control}/%C",
                "-o", "ControlPersist=60"]
        if self.settings.port:
            argv += ["-p", str(self.settings.port)]
        argv += [*self.settings.ssh_options, *shlex.split(os.environ.get("EDGEKIT_SSH_OPTIONS", ""))]
        return [*argv, self.settings.ssh]

    def _shell(self, command: str, timeout: float, stdin: bytes | None = None,
               stdout_file: Path | None = None) -> Completed:
        result = run([*self._ssh_argv(), "--", command], timeout, f"ssh to {self.label}", stdin=stdin,
                     stdout_file=stdout_file)
        if result.returncode == SSH_FAILED:
            line = result.last_error_line()
            known = next((k for k in NOT_TRANSIENT if k in result.stderr), None)
            if known is not None:
                fix = FIXES.get(known)
                raise DeviceError(f"ssh to {self.label}: {line}" + (f" ({fix})" if fix else ""))
            raise Transient(line)
        return result

    def _push(self, local: Path, remote: str, timeout: float) -> None:
        with open(local, "rb") as source:
            result = run([*self._ssh_argv(), "--", f"cat > {shlex.quote(remote)}.part && mv {shlex.quote(remote)}"
                          f".part {shlex.quote(remote)}"], timeout, f"pushing to {self.label}", stdin=source)
        if result.returncode == SSH_FAILED:
            raise Transient(result.last_error_line())
        if result.returncode != 0:
            raise DeviceError(f"{self.label}: cannot write {remote}: {result.last_error_line()}")

    def _pull(self, remote: str, local: Path, timeout: float) -> None:
        result = self._shell(f"cat {shlex.quote(remote)}", timeout, stdout_file=local)
        if result.returncode != 0:
            raise DeviceError(f"{self.label}: cannot read {remote}: {result.last_error_line()}")

    def open(self) -> None:
        if not self.base.startswith("/"):  # relative to the device's $HOME, resolved once
            self.base = f"{self._home()}/{self.base}"
            self.run_dir = f"{self.base}/runs/{self.run_id}"
        super().open()

    def close(self) -> None:
        super().close()
        try:
            run([*self._ssh_argv()[:-1], "-O", "exit", self.settings.ssh], 10.0, "closing the ssh connection")
        except DeviceLost:
            pass

    # --- the worker ------------------------------------------------------------------------------------------

    def _worker(self, *args: str, timeout: float | None = None) -> dict:
        remote = self.ensure_files([Path(worker.__file__)])[0]
        command = f"cd {shlex.quote(self.run_dir)} 2>/dev/null || cd; " + shlex.join(
            [self.settings.python, self._absolute(remote), *args])
        result = self.shell(command, timeout=timeout, what=f"the worker on {self.label}")
        lines = [line for line in result.stdout.splitlines() if line.startswith(worker.MARKER)]
        if not lines:
            raise DeviceError(f"{self.label}: the worker did not run with '{self.settings.python}': "
                              f"{result.last_error_line()} (set `python:` for this device in devices.yaml to a "
                              "Python 3.8+ with numpy)")
        answer = json.loads(lines[-1][len(worker.MARKER):])
        if "error" in answer:
            raise DeviceError(f"{self.label}: {answer['error']}")
        return answer

    def time_files(self, files: list[tuple[Path, str]], request: TimingRequest,
                   images: np.ndarray | None = None) -> list[FileTiming]:
        remote_files = self.ensure_files([path for path, _ in files])
        body = {"files": [{"path": self._absolute(r), "format": fmt} for r, (_, fmt) in zip(remote_files, files)],
                "threads": request.threads, "runs": request.runs, "warmup": request.warmup,
                "warmup_seconds": request.warmup_seconds, "min_seconds": request.min_seconds,
                "cpus": request.cpus or cpu_list(self.settings.cpus), "cold_start": request.cold_start,
                "provider": request.runtime or "cpu", "timeout": self.settings.timeout}
        if images is not None:
            local = Path(self._local_scratch()) / "images.npy"
            np.save(local, np.ascontiguousarray(images, dtype=np.float32))
            body["images"] = self._absolute(self.ensure_files([local])[0])
            body["outputs_dir"] = self._absolute(self.run_dir)
        before, note = self.cool_down(self.temperatures)
        self.write_text("request.json", json.dumps(body))
        answer = self._worker("bench", "request.json")
        timings = []
        for (path, fmt), entry in zip(files, answer["files"]):
            outputs = None
            if "outputs" in entry:
                local = self.fetch(entry["outputs"], Path(self._local_scratch()) / Path(entry["outputs"]).name)
                outputs = np.load(local, allow_pickle=False)
            timings.append(FileTiming(path=path, format=fmt, samples=entry["samples"], cpu_util=entry["cpu_util"],
                                      cold_start=entry["cold_start"], versions=entry["versions"],
                                      runtime=entry["runtime"], cpus=answer["cpus"], outputs=outputs,
                                      notes=[note] if note else [], throttled=note is not None))
        self._last_env = {**answer["env"], "thermal_c_before": before}
        return timings

    def _absolute(self, remote: str) -> str:
        return remote if remote.startswith("/") else f"{self._home()}/{remote}"

    def _home(self) -> str:
        if not hasattr(self, "_home_dir"):
            self._home_dir = self.shell("printf %s \"$HOME\"", timeout=min(60.0, self.settings.timeout),
                                        what=f"connecting to {self.label}").stdout.strip()
        return self._home_dir

    def environment(self) -> dict:
        if getattr(self, "_last_env", None) is None:
            self._last_env = self._worker("doctor")["env"]
        return {**self._last_env, "device": self.label, **self._jetson()}

    def _jetson(self) -> dict:
        """Power mode, clocks and a tegrastats sample on a Jetson (nothing elsewhere); warns when clocks are not
        maxed (`sudo jetson_clocks`), since latency then depends on DVFS."""
        probe = self.shell("command -v nvpmodel >/dev/null || exit 0; nvpmodel -q 2>&1; echo '--clocks--'; "
                           "jetson_clocks --show 2>&1; echo '--tegrastats--'; timeout 3 tegrastats --interval 1000 "
                           "2>&1 | head -n 1", timeout=30.0, what=f"reading {self.label}'s Jetson state")
        if not probe.stdout.strip():
            return {}
        power, _, rest = probe.stdout.partition("--clocks--")
        clocks, _, tegra = rest.partition("--tegrastats--")
        found: dict = {}
        try:
            mode = parse_nvpmodel(power)
            found.update(power_mode=mode.name, power_mode_id=mode.id)
        except ParseError:
            found["power_mode"] = None
        try:
            parsed = parse_jetson_clocks(clocks)
            found["clocks_maxed"] = parsed.maxed
            if not parsed.maxed:
                log.warning("%s: Jetson clocks are not at their maximum (run `sudo jetson_clocks`); latency "
                            "depends on frequency scaling", self.label)
        except ParseError:
            found["clocks_maxed"] = None
        try:
            stats = parse_tegrastats(tegra.strip().splitlines()[0] if tegra.strip() else "")
            found["tegrastats"] = {"ram_used_mb": stats.ram_used_mb, "ram_total_mb": stats.ram_total_mb,
                                   "gpu_util_pct": stats.gpu_util_pct, "temperatures": stats.temperatures,
                                   "power_mw": {k: v.current_mw for k, v in stats.power.items()}}
        except ParseError:
            found["tegrastats"] = None
        return {"jetson": found}

    def doctor(self) -> list[Check]:
        checks = []
        try:
            self.open()
        except Exception as exc:  # noqa: BLE001 - doctor reports every failure as a line
            return [Check("reachable", False, str(exc), "check the host, port and your ssh key (ssh -v HOST)")]
        try:
            checks.append(Check("reachable", True, f"ssh {self.settings.ssh}"))
            try:
                found = self._worker("doctor")
            except DeviceError as exc:
                return [*checks, Check("python + numpy", False, str(exc),
                                       f"install Python 3 and numpy on the device (pip install numpy), or set "
                                       f"`python:` in devices.yaml (now '{self.settings.python}')")]
            env = found["env"]
            checks.append(Check("python + numpy", True, f"Python {found['python']}, numpy {found['numpy']}"))
            checks.append(Check("cpu", True, f"{env['cpu']} ({env['cores']} cores, online {env['cores_online']}), "
                                             f"{env['machine']}, {env['platform']}"))
            checks.append(governor_check(env["governor"]))
            hottest = max(env["thermal_c"].values()) if env["thermal_c"] else None
            checks.append(Check("temperature", True, f"hottest zone {hottest} °C" if hottest is not None
                                else "no readable thermal zones"))
            checks.extend(_runtime_checks(found))
        finally:
            self.close()
        return checks


def _runtime_checks(found: dict) -> list[Check]:
    hints = {"onnx": "pip install onnxruntime (Jetson GPU: NVIDIA's onnxruntime-gpu wheel from the Jetson Zoo / "
                     "pypi.jetson-ai-lab.io; PyPI has no aarch64 GPU wheel)",
             "tflite": "pip install ai-edge-litert (or tflite-runtime on older boards)",
             "pte": "pip install executorch (the wheel bundles the XNNPACK runtime)"}
    checks = []
    for fmt, hint in hints.items():
        info = found["runtimes"].get(fmt, {})
        detail = (f"{info['module']} {info['version']}" + (f", providers: {', '.join(info['providers'])}"
                                                          if info.get("providers") else "")) if info.get("found") \
            else info.get("error", "not installed")
        checks.append(Check(f".{fmt} runtime", bool(info.get("found")), detail, hint))
    trtexec = found["tools"].get("trtexec")
    checks.append(Check("trtexec (TensorRT)", trtexec is not None, trtexec or "not found",
                        "JetPack ships it at /usr/src/tensorrt/bin/trtexec; elsewhere the TensorRT tar/deb "
                        "package (libnvinfer-bin); only needed for --runtime tensorrt"))
    return checks


DEVICE_KINDS.add("ssh", SshDevice)
