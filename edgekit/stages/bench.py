"""The bench stage of `compress`: cold start in a child process, then latency in the artifact's runtime.

With a baseline (the uncompressed FP32 model in the same format) both files are timed interleaved in A B B A
rounds, so machine drift hits both and the gate's ratio test compares like with like.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edgekit.bench.compare import interleaved
from edgekit.bench.cpus import parse_cpus, pinned
from edgekit.bench.isolated import probe
from edgekit.bench.measure import example_input, latency_record, time_calls
from edgekit.core.errors import first_line
from edgekit.core.ui import info, native_stderr_captured
from edgekit.runtimes import open_session
from edgekit.stages.ship import quarantine

log = logging.getLogger(__name__)


def bench_run(artifacts: list[dict], baseline: list[dict] | None, root: Path, recipe) -> float:
    """Fill `latency_ms`, `load_ms` and `cold_start` of every verified artifact (and its baseline); returns seconds."""
    start = time.perf_counter()
    settings = {"threads": recipe.threads, "runs": recipe.runs, "warmup": recipe.warmup,
                "warmup_seconds": recipe.warmup_seconds, "min_seconds": recipe.min_seconds}
    by_format = {b["format"]: b for b in baseline or [] if b["status"] == "ok"}
    with pinned(parse_cpus(recipe.cpus) if recipe.cpus else None) as used:
        for record in artifacts:
            if record["status"] != "ok":
                continue
            partner = by_format.get(record["format"])
            try:
                _measure(record, partner, root, settings, used)
            except Exception as exc:  # a runtime that cannot time the file fails that file, not the run
                log.debug("benchmark failed", exc_info=True)
                record.update(status="failed", error=f"benchmark failed: {first_line(exc, 300)}")
                quarantine(record, (root / record["path"]).parent)
        for record in by_format.values():  # baseline files whose candidate failed: timed alone
            if record.get("latency_ms") is None and record["status"] == "ok":
                _measure(record, None, root, settings, used)
    return time.perf_counter() - start


def _measure(record: dict, partner: dict | None, root: Path, settings: dict, used: list[int] | None) -> None:
    threads = settings["threads"]
    sessions = []
    for entry in (record, partner) if partner else (record,):
        path = root / entry["path"]
        entry["cold_start"] = probe(path, entry["format"], threads)
        entry["load_ms"] = entry["cold_start"]["load_ms"]
        with native_stderr_captured():
            sessions.append(open_session(path, threads=threads))
    x = example_input(sessions[0])
    if partner is None:
        samples, util = time_calls(lambda: sessions[0].run(x), settings["warmup"], settings["runs"],
                                   settings["warmup_seconds"], settings["min_seconds"])
        record["latency_ms"] = {**latency_record(samples, util, settings["warmup"], threads), "cpus": used}
    else:
        cand, base, cand_util, base_util = interleaved(sessions[0], sessions[1], x, example_input(sessions[1]),
                                                       settings)
        record["latency_ms"] = {**latency_record(cand, cand_util, settings["warmup"], threads), "cpus": used,
                                "interleaved_with": partner["path"]}
        partner["latency_ms"] = {**latency_record(base, base_util, settings["warmup"], threads), "cpus": used,
                                 "interleaved_with": record["path"]}
    info(f"bench: {record['format']} p50 {record['latency_ms']['p50']:.3f} ms at {threads} thread(s)"
         + (f" (baseline {partner['latency_ms']['p50']:.3f} ms, interleaved)" if partner else ""))
