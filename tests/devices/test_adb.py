"""adb devices with stand-ins: a stand-in `adb` whose device is a folder, and stand-in benchmark binaries that
really run the files (LiteRT, ExecuTorch) and print exactly what the official binaries print."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

STANDINS = Path(__file__).parent / "standins"
PROPS = "[ro.product.model]: [Pixel 8]\n[ro.soc.model]: [Tensor G3]\n[ro.board.platform]: [zuma]\n" \
        "[ro.build.version.release]: [15]\n[ro.build.version.sdk]: [35]\n"
THERMAL = ("IsStatusOverride: false\nThermal Status: 0\nCached temperatures:\nHAL Ready: true\n"
           "Current temperatures from HAL:\n\tTemperature{mValue=41.5, mType=0, mName=CPU0, mStatus=0}\n")
CPUINFO = "processor\t: 0\nBogoMIPS\t: 49.15\nFeatures\t: fp asimd aes crc32 asimddp i8mm\nCPU part\t: 0xd46\n"


def _wrapper(path: Path, script: Path) -> Path:
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def phone(tmp_path, monkeypatch):
    """A fake phone folder, the stand-in adb on a devices.yaml, and the binaries it pushes."""
    root = tmp_path / "phone"
    for folder in ("data/local/tmp", "system/bin", "sys/class/thermal/thermal_zone0",
                   "sys/devices/system/cpu/cpu0/cpufreq", "proc"):
        (root / folder).mkdir(parents=True)
    (root / "sys/class/thermal/thermal_zone0/type").write_text("cpu-0-0\n")
    (root / "sys/class/thermal/thermal_zone0/temp").write_text("41500\n")
    (root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").write_text("schedutil\n")
    (root / "sys/devices/system/cpu/online").write_text("0-7\n")
    (root / "proc/cpuinfo").write_text(CPUINFO)
    (root / "props.txt").write_text(PROPS)
    (root / "thermal.txt").write_text(THERMAL)
    for name, source in (("getprop", "props.txt"), ("dumpsys", "thermal.txt")):
        (root / "system/bin" / name).write_text(f"#!/bin/sh\ncat {root / source}\n")
        (root / "system/bin" / name).chmod(0o755)
    tools = tmp_path / "tools"
    tools.mkdir()
    adb = _wrapper(tools / "adb", STANDINS / "adb.py")
    bench = _wrapper(tools / "benchmark_model", STANDINS / "benchmark_model.py")
    runner = _wrapper(tools / "executor_runner", STANDINS / "executor_runner.py")
    monkeypatch.setenv("EDGEKIT_FAKE_ADB_ROOT", str(root))
    yaml = tmp_path / "devices.yaml"
    yaml.write_text(f"devices:\n  pixel:\n    adb: FAKE0001\n    adb_path: {adb}\n    cpus: '0'\n"
                    f"    binaries:\n      benchmark_model: {bench}\n      executor_runner: {runner}\n")
    return root, yaml


def test_push_pinned_run_parse_report_cleanup(cli, phone, tiny_files):
    root, yaml = phone
    files = [str(tiny_files["tflite"]), str(tiny_files["pte"])]
    result = cli("bench", *files, "--device", "pixel", "--devices", str(yaml), "--runs", "8", "--warmup", "2",
                 "--data", "fashion-mnist", "--eval-samples", "1", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    tflite, pte = payload["results"]
    assert pte["latency_ms"]["runs"] == len(pte["latency_ms"]["samples"]) == 8  # executor_runner: every iteration
    assert pte["latency_ms"]["p90"] is not None and "sample_kind" not in pte["latency_ms"]
    lat = tflite["latency_ms"]
    assert lat["sample_kind"].startswith("per-round median") and len(lat["samples"]) == 2
    assert lat["p90"] is None and {"per-run samples", "p90", "p99"} <= set(lat["unavailable"])
    assert lat["cpus"] == [0] and lat["device"] == "pixel" and lat["p50"] > 0
    assert tflite["cold_start"]["process"] == "benchmark_model" and tflite["cold_start"]["load_ms"] > 0
    env = payload["env"]
    assert env["cpu"] == "Tensor G3" and env["android"]["ro.board.platform"] == "zuma"
    assert env["thermal_c"] == {"cpu-0-0": 41.5} and env["throttling"] is False
    assert pte["accuracy"]["n"] == 1 and pte["accuracy"]["parity_vs_host"]["passed"]  # executor_runner --inputs
    assert tflite["accuracy"]["top1"] is None and "not measured on device" in tflite["accuracy"]["note"]
    store = root / "data/local/tmp/edgekit"
    assert not list((store / "runs").iterdir())  # the run folder is gone
    assert {p.name for p in (store / "files").rglob("*") if p.is_file()} >= {"tiny.tflite", "tiny.pte"}


def test_missing_binary_names_the_official_file(cli, phone, tiny_files, tmp_path):
    root, yaml = phone
    yaml.write_text(yaml.read_text().replace(str(tmp_path / "tools" / "benchmark_model"), "/data/local/tmp/nope"))
    result = cli("bench", str(tiny_files["tflite"]), "--device", "pixel", "--devices", str(yaml))
    assert result.returncode == 2 and "android_aarch64_benchmark_model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_onnx_is_refused_before_any_work(cli, phone, tiny_files):
    _, yaml = phone
    result = cli("bench", str(tiny_files["onnx"]), "--device", "pixel", "--devices", str(yaml))
    assert result.returncode == 2 and "cannot time .onnx" in result.stderr


def test_an_offline_phone_is_inconclusive(cli, phone, tiny_files):
    root, yaml = phone
    yaml.write_text(yaml.read_text() + "    retries: 0\n")  # retries and their backoff: tests/devices/test_ssh.py
    (root / "OFFLINE").write_text("")
    result = cli("bench", str(tiny_files["tflite"]), "--device", "pixel", "--devices", str(yaml))
    assert result.returncode == 3 and "offline" in result.stderr


def test_doctor_reports_the_phone(cli, phone):
    _, yaml = phone
    result = cli("devices", "doctor", "pixel", "--devices", str(yaml))
    text = result.stdout + result.stderr
    assert result.returncode == 0 and "Pixel 8" in text and "Tensor G3" in text and "benchmark_model" in text


def test_compress_on_the_phone_and_gate_with_a_device_budget(cli, phone, tmp_path):
    _, yaml = phone
    out = tmp_path / "run"
    result = cli("compress", "test_resnet", "--data", "synthetic", "--img-size", "32", "--epochs", "0",
                 "--formats", "tflite", "--runs", "50", "--warmup", "1", "--device", "pixel", "--devices", str(yaml),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    latency = report["artifacts"][0]["latency_ms"]
    assert latency["device"] == "pixel" and latency["p90"] is None and latency["sample_kind"]
    budget = tmp_path / "budget.yaml"
    budget.write_text("budgets:\n  - match: {device: pixel, format: tflite}\n    max_size_mb: 100\n"
                      "    max_latency_p50_ms: 10000\n  - match: {device: 'adb:*'}\n    max_size_mb: 0.000001\n")
    gate = cli("check", str(out / "report.json"), "--budget", str(budget), "--json")
    verdict = json.loads(gate.stdout)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert verdict["verdict"] == "pass" and verdict["unmatched"] == ["#2 device=adb:*"]
    budget.write_text("budgets:\n  - match: {device: pixel}\n    max_latency_p90_ms: 10000\n")
    assert cli("check", str(out / "report.json"), "--budget", str(budget)).returncode == 3  # no per-run p90
