"""ssh devices end to end against a real OpenSSH server on 127.0.0.1: the real worker, the real runtimes there."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from edgekit.devices import DeviceLost, TimingRequest, open_device


def test_bench_over_ssh_gives_the_report_keys_of_a_local_run(cli, sshd, tiny_files, tmp_path):
    files = [str(tiny_files[f]) for f in ("onnx", "tflite")]  # .pte: benchmarks/devices_ssh.py
    local = cli("bench", *files, "--runs", "15", "--warmup", "2", "--json")
    remote = cli("bench", *files, "--runs", "15", "--warmup", "2", "--device", sshd.spec, "--json")
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    here, there = json.loads(local.stdout), json.loads(remote.stdout)
    assert set(here) == set(there) and set(here["env"]) <= set(there["env"])
    for a, b in zip(here["results"], there["results"]):
        assert set(a) == set(b) and set(a["latency_ms"]) == set(b["latency_ms"])
        assert len(b["latency_ms"]["samples"]) == 15 and b["latency_ms"]["device"] == sshd.spec
        assert b["cold_start"]["process"] == "child" and b["cold_start"]["peak_rss_mb"] > 0
        assert a["sha256"] == b["sha256"]
    assert there["settings"]["device"] == sshd.spec


def test_files_are_pushed_once_and_the_run_folder_is_removed(sshd, tiny_files, tmp_path):
    device = open_device("loop", sshd.devices_yaml(tmp_path / "devices.yaml"))
    request = TimingRequest(runs=3, warmup=0, cold_start=False)
    with device.session():
        device.time_files([(tiny_files["onnx"], "onnx")], request)
        run_dir = device.run_dir
        pushed = set(device._pushed)
    again = open_device("loop", tmp_path / "devices.yaml")
    uploads = []
    original = again._upload
    again._upload = lambda path, remote: (uploads.append(path.name), original(path, remote))
    with again.session():
        again.time_files([(tiny_files["onnx"], "onnx")], request)
        assert set(again._pushed) == pushed
    assert uploads == []  # the device already had both files (same sha256)
    listing = again._shell(f"ls -d {run_dir} {again.run_dir} 2>/dev/null; true", 30)
    assert listing.stdout.strip() == ""


def test_outputs_come_back_for_accuracy(sshd, tiny_files, tmp_path):
    import numpy as np

    from edgekit.runtimes import open_session

    images = np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32)
    device = open_device(sshd.spec)
    with device.session():
        timed = device.time_files([(tiny_files["tflite"], "tflite")], TimingRequest(runs=2, warmup=0,
                                                                                    cold_start=False), images)
    host = open_session(tiny_files["tflite"]).run(images)
    assert timed[0].outputs.shape == (8, 10) and np.allclose(timed[0].outputs, host, atol=1e-5)


def test_a_disconnect_mid_run_is_inconclusive_and_one_line(cli, sshd, tiny_files, tmp_path):
    def pull_the_cable():  # as soon as the worker has its request, kill the server and every session
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((sshd.folder / "home").glob(".cache/edgekit/runs/*/request*")):
            time.sleep(0.02)
        sshd.stop()

    killer = threading.Thread(target=pull_the_cable, daemon=True)
    killer.start()
    result = cli("bench", str(tiny_files["pte"]), "--device", sshd.spec, "--runs", "5")
    killer.join()
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and sshd.spec in lines[0] and "Traceback" not in result.stderr


def test_unknown_and_unreachable_devices_are_one_line_errors(cli, tmp_path, sshd):
    yaml = sshd.devices_yaml(tmp_path / "devices.yaml")
    unknown = cli("bench", "x.onnx", "--device", "lopo", "--devices", str(yaml))
    assert unknown.returncode == 2 and "did you mean 'loop'" in unknown.stderr
    yaml.write_text(yaml.read_text() + "    retries: 0\n")
    sshd.stop()
    started = time.monotonic()
    gone = cli("devices", "doctor", "loop", "--devices", str(yaml))
    assert gone.returncode == 2 and "Connection refused" in gone.stdout + gone.stderr
    assert time.monotonic() - started < 60


def test_a_file_the_device_runtime_cannot_load_is_one_line(cli, sshd, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    result = cli("bench", str(broken), "--device", sshd.spec)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("spec", ["ssh:", "ssh:host:99999", "ssh:a b"])
def test_malformed_ssh_specs(spec):
    from edgekit.core.errors import EdgekitError

    with pytest.raises(EdgekitError):
        open_device(spec)


def test_device_lost_is_exit_3():
    assert DeviceLost("x").exit_code == 3


def test_a_jetson_reports_power_mode_clocks_and_tegrastats(sshd, caplog):
    samples = Path(__file__).parent / "samples"
    tegrastats = next(line for line in (samples / "tegrastats_lines.txt").read_text().splitlines()
                      if "RAM" in line)
    tools = {"nvpmodel": f"cat {samples / 'nvpmodel_orin_nano_25w.txt'}",
             "jetson_clocks": f"cat {samples / 'jetson_clocks_nano.txt'}", "tegrastats": f"echo '{tegrastats}'"}
    for name, body in tools.items():
        (sshd.folder / "bin" / name).write_text(f"#!/bin/sh\n{body}\n")
        (sshd.folder / "bin" / name).chmod(0o755)
    device = open_device(sshd.spec)
    with device.session():
        jetson = device.environment()["jetson"]
    assert jetson["power_mode"] and jetson["power_mode_id"] is not None
    assert jetson["clocks_maxed"] is False and "jetson_clocks" in caplog.text
    assert jetson["tegrastats"]["ram_total_mb"] > 0


def test_tensorrt_engines_over_ssh(cli, sshd, tiny_files):
    """A Jetson's trtexec (the stand-in, TensorRT 10 as JetPack 6 ships) driven over ssh: build, time, fetch."""
    standin = Path(__file__).parent / "standins" / "trtexec.py"
    (sshd.folder / "bin" / "trtexec").write_text(f"#!/bin/sh\nexec {sys.executable} {standin} \"$@\"\n")
    (sshd.folder / "bin" / "trtexec").chmod(0o755)
    result = cli("bench", str(tiny_files["onnx"]), "--runtime", "tensorrt", "--precision", "fp16", "--batch", "4",
                 "--device", sshd.spec, "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["results"][0]
    assert entry["latency_ms"]["device"] == sshd.spec and entry["throughput"]["img_per_s"] > 0
    assert entry["verification"]["status"] == "not verified" and len(entry["engines"]["latency"]["sha256"]) == 64


def test_an_execution_provider_the_device_lacks_is_one_line(cli, sshd, tiny_files):
    result = cli("bench", str(tiny_files["onnx"]), "--runtime", "ort-cuda", "--device", sshd.spec)
    assert result.returncode == 2 and "CUDAExecutionProvider" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_compress_on_an_ssh_device_reports_accuracy_there(cli, sshd, tmp_path):
    out = tmp_path / "run"
    result = cli("compress", "test_resnet", "--data", "fashion-mnist", "--subset", "200", "--img-size", "32",
                 "--epochs", "0", "--formats", "onnx", "--runs", "10", "--eval-samples", "50", "--device", sshd.spec,
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    artifact = report["artifacts"][0]
    assert artifact["latency_ms"]["device"] == sshd.spec and report["device_env"]["device"] == sshd.spec
    on_device = artifact["device_accuracy"]
    assert on_device["n"] == 50 and on_device["parity_vs_host"]["passed"]
    assert abs(on_device["top1"] - artifact["accuracy"]["top1"]) < 5  # host top-1 is on all validation images


def test_ctrl_c_mid_run_removes_the_device_folder(sshd, tiny_files):
    import os
    import signal
    import subprocess

    runs = sshd.folder / "home" / ".cache" / "edgekit" / "runs"

    # 2M runs of the tiny file keep the worker timing for a minute; --min-seconds would not (a fast model's timing
    # stops at MAX_RUNS, 20,000 runs, under a second here: the SIGINT then came after the bench had finished)
    # a shell's background job ignores SIGINT and its children inherit that: the bench gets a terminal's default
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", str(tiny_files["pte"]), "--device", sshd.spec,
                             "--runs", "2000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(runs.glob("*/request*")):
        time.sleep(0.05)
    time.sleep(1.0)  # the worker is loading the file or timing it now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    code = proc.returncode
    assert code != 0 and b"Traceback" not in err, err.decode(errors="replace")[-800:]
    assert runs.is_dir() and not list(runs.iterdir())
