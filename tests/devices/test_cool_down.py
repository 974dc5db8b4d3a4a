"""Cool-down before timing on a remote device, and what a device that stays hot does to the gate."""

from __future__ import annotations

from doubles import lognormal, make_artifact, make_report

from edgekit.bench.budget import BudgetFile
from edgekit.bench.gate import evaluate
from edgekit.devices.config import DeviceSettings
from edgekit.devices.ssh import SshDevice


def _device(**settings) -> SshDevice:
    return SshDevice("board", DeviceSettings(ssh="pi@board", **settings))


def test_waits_until_the_hottest_zone_is_under_the_limit():
    readings = iter([{"cpu": 80.0, "gpu": 60.0}, {"cpu": 72.0}, {"cpu": 64.0}])
    slept = []
    temps, note = _device(max_celsius=65, cooldown_seconds=60).cool_down(lambda: next(readings), slept.append)
    assert temps == {"cpu": 64.0} and note is None and len(slept) == 2


def test_a_device_that_stays_hot_makes_latency_inconclusive():
    slept = []
    temps, note = _device(max_celsius=65, cooldown_seconds=30).cool_down(lambda: {"cpu": 90.0}, slept.append)
    assert note is not None and "inconclusive" in note and sum(slept) >= 30


def test_no_limit_or_no_zones_means_no_wait():
    assert _device().cool_down(lambda: {"cpu": 99.0}, lambda s: None) == ({"cpu": 99.0}, None)
    assert _device(max_celsius=50).cool_down(lambda: {}, lambda s: None) == ({}, None)


def test_the_gate_does_not_pass_or_fail_latency_measured_on_a_throttled_device():
    import numpy as np

    artifact = make_artifact(samples=lognormal(np.random.default_rng(0), 5.0, 60))
    artifact["latency_ms"]["throttled"] = True
    budgets = BudgetFile.model_validate({"budgets": [{"max_latency_p50_ms": 100, "max_size_mb": 100}]})
    gate = evaluate(make_report([artifact]), budgets)
    verdicts = {c["limit_key"]: c["verdict"] for c in gate["checks"]}
    assert verdicts == {"max_latency_p50_ms": "inconclusive", "max_size_mb": "pass"}
