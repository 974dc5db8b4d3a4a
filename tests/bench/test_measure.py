import numpy as np
import pytest

from edgekit.bench.measure import fidelity, parity, summarize
from edgekit.bench.stats import ratio_with_ci


def test_parity_passes_within_tolerance_and_fails_beyond():
    ref = np.array([[1.0, 3.0, 2.0], [0.5, -1.0, 4.0]])
    assert parity(ref + 1e-5, ref, atol=1e-3)["passed"]
    bad = parity(ref + 0.1, ref, atol=1e-3)
    assert not bad["passed"] and bad["max_abs_diff"] > 0.09


def test_a_top1_flip_within_tolerance_is_a_near_tie():
    ref = np.array([[1.0, 1.0 + 1e-6], [0.0, 5.0]])
    out = np.array([[1.0 + 2e-6, 1.0], [0.0, 5.0]])
    result = parity(out, ref, atol=1e-3)
    assert result["top1_agreement"] == 0.5 and result["passed"]
    clear = np.array([[2.0, 1.0], [0.0, 5.0]])
    assert not parity(clear, np.array([[1.0, 2.0], [0.0, 5.0]]), atol=1e-3)["passed"]


def test_non_finite_outputs_fail():
    assert not parity(np.array([[np.nan, 1.0]]), np.array([[0.0, 1.0]]), atol=1e9)["passed"]


def test_shape_mismatch_fails():
    assert not parity(np.zeros((2, 3)), np.zeros((2, 4)), atol=1)["passed"]


def test_summary_percentiles():
    stats = summarize(list(range(1, 101)))
    assert stats["p50"] == 50.5 and stats["min"] == 1 and 98 < stats["p99"] < 100


def test_ratio_ci_brackets_the_true_ratio():
    rng = np.random.default_rng(0)
    base = rng.normal(10, 0.3, 200)
    cand = rng.normal(12, 0.3, 200)
    result = ratio_with_ci(cand.tolist(), base.tolist())
    low, high = result["ratio_ci"]
    assert low < 1.2 < high and high - low < 0.05


class FakeClock:
    """A clock that advances `step` seconds per call of the measured function (no wall-clock in the test)."""

    def __init__(self, step: float):
        self.now, self.step, self.calls = 0.0, step, 0

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.calls += 1
        self.now += self.step


def test_warmup_and_runs_by_count():
    from edgekit.bench.measure import time_calls

    clock = FakeClock(0.002)
    samples, _ = time_calls(clock.call, warmup=3, runs=10, clock=clock)
    assert len(samples) == 10 and clock.calls == 13 and all(abs(s - 2.0) < 1e-9 for s in samples)


def test_warmup_by_time_and_minimum_time():
    from edgekit.bench.measure import time_calls

    clock = FakeClock(1 / 16)  # exact in binary floating point
    samples, _ = time_calls(clock.call, warmup=1, runs=5, warmup_seconds=0.5, min_seconds=2.0, clock=clock)
    assert clock.calls - len(samples) == 8  # warm-up went on until 0.5 s had passed
    assert len(samples) == 32  # timing went on past 5 runs until 2 s had passed


def test_min_seconds_is_capped(monkeypatch):
    from edgekit.bench import measure
    from edgekit.runtimes import worker

    monkeypatch.setattr(worker, "MAX_RUNS", 100)
    clock = FakeClock(1e-6)
    samples, _ = measure.time_calls(clock.call, warmup=0, runs=10, min_seconds=60, clock=clock)
    assert len(samples) == 100


def test_latency_record_keeps_samples_and_thread_count():
    from edgekit.bench.measure import latency_record

    record = latency_record([3.0, 1.0, 2.0], 0.98, warmup=2, threads=1)
    assert record["samples"] == [3.0, 1.0, 2.0] and record["runs"] == 3 and record["threads"] == 1
    assert record["p50"] == 2.0 and record["min"] == 1.0 and record["std"] == 1.0


def test_cpu_lists_and_pinning():
    import os

    import pytest

    from edgekit.bench.cpus import available_cpus, parse_cpus, pinned
    from edgekit.core.errors import EdgekitError

    cpus = available_cpus()
    assert parse_cpus(str(cpus[0])) == [cpus[0]]
    assert parse_cpus(f"{cpus[0]}-{cpus[-1]}") == cpus
    for bad in ("x", "3-1", "-1", "9999"):
        with pytest.raises(EdgekitError, match="--cpus"):
            parse_cpus(bad)
    if hasattr(os, "sched_setaffinity"):
        before = os.sched_getaffinity(0)
        with pinned([cpus[0]]) as used:
            assert used == [cpus[0]] and os.sched_getaffinity(0) == {cpus[0]}
        assert os.sched_getaffinity(0) == before


def test_fidelity_counts_disagreements_and_passes_at_the_threshold():
    reference = np.tile(np.eye(4)[[0, 1, 2, 3]], (50, 1))  # 200 rows, margin 1 everywhere
    outputs = reference.copy()
    outputs[:1] = outputs[:1, ::-1]  # one real flip: 99.5%
    result = fidelity(outputs, reference, tie_tolerance=1e-3, min_agreement=99.5)
    assert (result["n"], result["agreement"], result["disagreements"], result["near_ties"]) == (200, 99.5, 1, 0)
    assert result["passed"]
    assert not fidelity(outputs, reference, tie_tolerance=1e-3, min_agreement=100.0)["passed"]


def test_fidelity_a_flip_of_a_near_tie_is_reported_not_failed():
    reference = np.array([[1.0, 1.0 - 1e-5, 0.0], [0.0, 2.0, 0.0]])
    outputs = np.array([[1.0 - 1e-5, 1.0, 0.0], [0.0, 2.0, 0.0]])
    result = fidelity(outputs, reference, tie_tolerance=1e-4, min_agreement=100.0)
    assert (result["agreement"], result["disagreements"], result["near_ties"], result["passed"]) == (50.0, 1, 1, True)
    assert not fidelity(outputs, reference, tie_tolerance=1e-6, min_agreement=100.0)["passed"]


def test_fidelity_non_finite_outputs_fail_and_mismatched_shapes_are_refused():
    reference = np.eye(3)
    assert not fidelity(np.full((3, 3), np.nan), reference, 1e-3, 0.0)["passed"]
    with pytest.raises(ValueError, match="one shape"):
        fidelity(np.eye(2), reference, 1e-3, 0.0)


def test_interleaved_no_call_pays_for_the_one_before_it():
    """A call that is slow right after one particular other call (its cache evicted) is timed warm."""
    import time

    from edgekit.bench.measure import interleaved

    log = []

    def make(name, penalised_after=None):
        def call():
            if penalised_after is not None and log and log[-1] == penalised_after:
                time.sleep(0.02)
            log.append(name)
        return call

    calls = [make("fp32"), make("int8", penalised_after="fp32"), make("peer")]
    results = interleaved(calls, warmup=1, runs=40, round_size=5)
    assert [len(s) for s, _ in results] == [40, 40, 40]
    assert max(results[1][0]) < 10, "a timed run of int8 followed fp32"
    pairs = list(zip(log, log[1:]))
    before_int8 = [a for a, b in pairs if b == "int8" and a != "int8"]
    assert before_int8.count("fp32") and before_int8.count("peer"), "every call follows every other one"
