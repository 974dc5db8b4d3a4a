"""The budget gate: check every limit of every budget on every artifact it matches → pass / fail / inconclusive.

Size, parameters, MACs and accuracy are exact properties of the file and the evaluation set: compared directly.
Latency limits are decided by tests on the per-run samples in report.json (edgekit.bench.stats): a limit fails only
when the violation is significant, passes only when compliance is, and is inconclusive otherwise (exit code 3).
`alpha` in the budget file is the family-wise false-alarm probability of one gate run; it is split evenly over the
latency tests (Bonferroni), so a report with many latency checks is no likelier to fail CI by chance.

The `*_vs_reference` limits and `max_size_growth` compare each artifact with its `vs_reference` record: the file of
an earlier run (compress --reference RUN_DIR) or bench's --baseline file, timed interleaved with it in the same
run. A report without that record fails them as "not measured", never passes them.

`evaluate` reads these keys of a report: model, data, accuracy_pytorch, baseline_is_artifacts, baseline[] and
artifacts[] (format, precision, path, status, size_bytes, params, macs, latency_ms, accuracy, vs_reference; an
optional per-artifact `model`), so `edgekit bench --budget` gates its own measurements without a compress report.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.bench.budget import LATENCY_LIMITS, LIMITS, BudgetFile, artifact_fields
from edgekit.bench.stats import LatencyDecision, quantile_test, ratio_test
from edgekit.core.errors import (
    EXIT_BUDGET,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
    UNTRACEABLE,
    EdgekitError,
)

VERDICT_EXIT = {"pass": EXIT_OK, "fail": EXIT_BUDGET, "inconclusive": EXIT_INCONCLUSIVE, "error": EXIT_USAGE}
NO_REFERENCE = "no reference measured with this file (compress --reference RUN_DIR, or bench --baseline FILE)"
NO_MODEL_FACTS = "the file is not listed in a run directory's report.json (edgekit bench of a bare file)"
METHOD = ("latency: Mann–Whitney U on log latency for ratios, exact binomial sign test for p50/p90; "
          "fail/pass only when significant at alpha (Bonferroni over latency tests), else inconclusive")


def evaluate(report: dict, budgets: BudgetFile, source: str = "") -> dict:
    """Gate `report` on `budgets`; raises (exit 2) when no budget matches any artifact."""
    pairs = [(index, budget, artifact) for index, budget in enumerate(budgets.budgets)
             for artifact in report["artifacts"] if budget.match.matches(artifact_fields(report, artifact))]
    if not pairs:
        formats = ", ".join(sorted({a["format"] for a in report["artifacts"]})) or "none"
        raise EdgekitError(f"no budget in '{source or 'the budget file'}' matches any artifact of the report "
                           f"(model {report.get('model')!r}, formats {formats})")
    tests = sum(1 for _, budget, _ in pairs for key in budget.limits()
                if key in LATENCY_LIMITS and not (key == "max_latency_ratio" and report.get("baseline_is_artifacts")))
    alpha = budgets.alpha / max(tests, 1)
    checks = []
    for index, budget, artifact in pairs:
        base = {"budget": budget.label(index), "format": artifact["format"], "precision": artifact["precision"],
                "path": artifact["path"]}
        if artifact.get("status", "ok") != "ok":
            checks.append({**base, **_row("verified", None, "failed", "fail", artifact.get("error") or "failed")})
            continue
        for key, limit in budget.limits().items():
            checks.append({**base, **CHECKS[key](report, artifact, limit, alpha)})
    verdicts = {c["verdict"] for c in checks}
    verdict = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    matched = {index for index, _, _ in pairs}
    return {"verdict": verdict, "exit_code": VERDICT_EXIT[verdict], "budget_file": str(source),
            "model": report.get("model"), "alpha": budgets.alpha, "latency_tests": tests, "alpha_per_test": alpha,
            "confidence": round(1 - 2 * alpha, 6), "method": METHOD, "checks": checks,
            "unmatched": [b.label(i) for i, b in enumerate(budgets.budgets) if i not in matched]}


def untraceable(report: dict) -> str | None:
    """One line naming the formats torch.export could not trace the model for, and the first cause (None when
    every format could trace it)."""
    failed = [a for a in report.get("baseline", []) + report.get("artifacts", []) if UNTRACEABLE in (a.get("error") or "")]
    if not failed:
        return None
    formats = ", ".join(dict.fromkeys(a["format"] for a in failed))
    cause = failed[0]["error"].split(UNTRACEABLE, 1)[1].partition(":")[2].strip()
    return f"{report.get('model', 'the model')} cannot be traced for {formats}: {cause}"


def exit_code(report: dict) -> int:
    """compress's exit code: 2 when torch.export cannot trace the model for a format (the model must change), 1 when
    a file failed verification or a budget failed, 3 when inconclusive, else 0."""
    if untraceable(report):
        return EXIT_USAGE
    if not report.get("ok", True):
        return EXIT_BUDGET
    gate = report.get("gate")
    return VERDICT_EXIT[gate["verdict"]] if gate else EXIT_OK


def gate_run(report: dict, budget_path: Path, directory: Path) -> dict:
    """The compress gate step: evaluate the budgets on the report, write gate.md and gate.junit.xml beside it.

    A budget file that matches none of the artifacts gives verdict "error" (exit code 2) instead of raising, so the
    finished run directory is still written.
    """
    from edgekit.bench.budget import load_budgets
    from edgekit.bench.gate_output import markdown
    from edgekit.bench.junit import junit_xml
    from edgekit.core.io import atomic_write_text

    try:
        gate = evaluate(report, load_budgets(budget_path), str(budget_path))
    except EdgekitError as exc:
        return {"verdict": "error", "exit_code": EXIT_USAGE, "error": str(exc), "budget_file": str(budget_path),
                "model": report.get("model"), "checks": []}
    atomic_write_text(Path(directory) / "gate.md", markdown(gate))
    atomic_write_text(Path(directory) / "gate.junit.xml", junit_xml(gate))
    return gate


def _row(limit_key: str, limit, observed, verdict: str, detail: str, test: LatencyDecision | None = None) -> dict:
    unit = LIMITS.get(limit_key, ("", ""))[1]
    return {"limit_key": limit_key, "limit": limit, "unit": unit, "observed": observed, "verdict": verdict,
            "detail": detail, "test": test.as_dict() if test else None}


def _not_measured(key: str, limit, what: str) -> dict:
    return _row(key, limit, None, "fail", f"not measured: {what}")


def _at_most(key: str, observed: float, limit: float, detail: str) -> dict:
    return _row(key, limit, observed, "pass" if observed <= limit else "fail", detail)


def _size(report, artifact, limit, alpha) -> dict:
    mb = artifact["size_bytes"] / 1e6
    return _at_most("max_size_mb", round(mb, 4), limit, f"{artifact['size_bytes']:,} bytes")


def _params(report, artifact, limit, alpha) -> dict:
    if artifact.get("params") is None:
        return _not_measured("max_params", limit, NO_MODEL_FACTS)
    return _at_most("max_params", artifact["params"], limit, f"{artifact['params'] / 1e6:.3f} M")


def _macs(report, artifact, limit, alpha) -> dict:
    if artifact.get("macs") is None:
        return _not_measured("max_macs", limit, NO_MODEL_FACTS)
    return _at_most("max_macs", artifact["macs"], limit, f"{artifact['macs'] / 1e9:.4f} G per image")


def _top1(report, artifact, limit, alpha) -> dict:
    acc = artifact.get("accuracy")
    if not acc:
        return _not_measured("min_top1", limit, f"no top-1 in the report (data {report.get('data')!r} has no labels?)")
    verdict = "pass" if acc["top1"] >= limit else "fail"
    return _row("min_top1", limit, acc["top1"], verdict, f"{acc['top1']:.2f}% on {acc['n']} {acc['dataset']} images")


def _top1_drop(report, artifact, limit, alpha) -> dict:
    acc = artifact.get("accuracy")
    if not acc:
        return _not_measured("max_top1_drop", limit, f"no top-1 in the report (data {report.get('data')!r})")
    reference, source = _reference_top1(report, artifact)
    if reference is None:
        return _not_measured("max_top1_drop", limit, "no FP32 baseline accuracy in the report")
    drop = round(reference - acc["top1"], 4)
    return _at_most("max_top1_drop", drop, limit, f"{acc['top1']:.2f}% vs {reference:.2f}% ({source})")


def _reference_top1(report: dict, artifact: dict) -> tuple[float | None, str]:
    """Top-1 of the FP32 baseline in the same format, else the PyTorch FP32 model's."""
    base = _baseline(report, artifact)
    if base is not None and base.get("accuracy"):
        return base["accuracy"]["top1"], f"FP32 {artifact['format']} baseline"
    if report.get("accuracy_pytorch"):
        return report["accuracy_pytorch"]["top1"], "PyTorch FP32"
    return None, ""


def _baseline(report: dict, artifact: dict) -> dict | None:
    """The FP32 baseline of the artifact's format; in `edgekit bench`'s gate input, the baseline timed with it."""
    for entry in report.get("baseline") or []:
        if entry.get("status", "ok") != "ok":
            continue
        timed_with = entry.get("timed_with")
        if timed_with == artifact["path"] or (timed_with is None and entry["format"] == artifact["format"]):
            return entry
    return None


def _samples(artifact: dict) -> list[float] | None:
    latency = artifact.get("latency_ms") or {}
    return latency.get("samples") or None


def _percentile(key: str, q: float):
    def check(report, artifact, limit, alpha) -> dict:
        latency = artifact.get("latency_ms")
        if not latency:
            return _not_measured(key, limit, "no latency in the report (benchmark disabled?)")
        samples = _samples(artifact)
        observed = latency[f"p{round(q * 100)}"]
        if samples is None:
            return _row(key, limit, observed, "inconclusive", "the report has no per-run samples to test")
        if latency.get("throttled"):
            return _row(key, limit, observed, "inconclusive", "the device was too hot when it was timed")
        if latency.get("sample_kind") and q != 0.5:
            return _row(key, limit, observed, "inconclusive",
                        f"the device's tool gives no per-run samples ({latency['sample_kind']})")
        test = quantile_test(samples, q, limit, alpha)
        return _row(key, limit, observed, test.verdict, _describe(test, "ms", alpha), test)

    return check


def _ratio(report, artifact, limit, alpha) -> dict:
    key = "max_latency_ratio"
    base = _baseline(report, artifact)
    if not artifact.get("latency_ms"):
        return _not_measured(key, limit, "no latency in the report (benchmark disabled?)")
    if base is None or not base.get("latency_ms"):
        return _not_measured(key, limit, f"no {artifact['format']} baseline measured in the same run")
    if report.get("baseline_is_artifacts"):  # one measurement on both sides: the ratio is exactly 1, no test
        return _at_most(key, 1.0, limit, "the artifact is its own baseline (no compression stage ran)")
    return _latency_ratio(key, artifact["latency_ms"], base["latency_ms"], limit, alpha)


def _ratio_vs_reference(report, artifact, limit, alpha) -> dict:
    key = "max_latency_ratio_vs_reference"
    reference = artifact.get("vs_reference")
    if not artifact.get("latency_ms"):
        return _not_measured(key, limit, "no latency in the report (benchmark disabled?)")
    if not reference:
        return _not_measured(key, limit, NO_REFERENCE)
    if not reference.get("latency_ms"):
        return _not_measured(key, limit, f"the reference {reference['path']} was not timed in this run")
    return _latency_ratio(key, artifact["latency_ms"], reference["latency_ms"], limit, alpha)


def _latency_ratio(key: str, latency: dict, other: dict, limit, alpha) -> dict:
    """The ratio test of two latency records timed interleaved in one run (candidate over baseline/reference)."""
    p50s = f"p50 {latency['p50']:.4g} / {other['p50']:.4g} ms"
    if latency.get("throttled") or other.get("throttled"):
        return _row(key, limit, None, "inconclusive", "the device was too hot when it was timed")
    cand, ref = latency.get("samples") or None, other.get("samples") or None
    if cand is None or ref is None:
        observed = round(latency["p50"] / other["p50"], 4)
        return _row(key, limit, observed, "inconclusive", f"the report has no per-run samples to test ({p50s})")
    # observed: the Hodges–Lehmann ratio the test decides on; it equals the p50 ratio when the candidate is the
    # baseline scaled, and stays stable when contention makes latencies bimodal and sample medians jump modes
    test = ratio_test(cand, ref, limit, alpha)
    observed = round(test.estimate, 4) if test.estimate is not None else None
    return _row(key, limit, observed, test.verdict, f"{_describe(test, '', alpha)} ({p50s})", test)


def _size_growth(report, artifact, limit, alpha) -> dict:
    key = "max_size_growth"
    reference = artifact.get("vs_reference")
    if not reference or not reference.get("size_bytes"):
        return _not_measured(key, limit, NO_REFERENCE)
    growth = round(artifact["size_bytes"] / reference["size_bytes"], 4)
    return _at_most(key, growth, limit, f"{artifact['size_bytes']:,} vs {reference['size_bytes']:,} bytes "
                                        f"(reference {reference['path']})")


def _top1_drop_vs_reference(report, artifact, limit, alpha) -> dict:
    key = "max_top1_drop_vs_reference"
    acc, reference = artifact.get("accuracy"), artifact.get("vs_reference")
    if not acc:
        return _not_measured(key, limit, f"no top-1 in the report (data {report.get('data')!r})")
    if not reference:
        return _not_measured(key, limit, NO_REFERENCE)
    theirs = reference.get("accuracy")
    if not theirs:
        return _not_measured(key, limit, f"the reference {reference['path']} has no top-1")
    if (theirs["dataset"], theirs["n"]) != (acc["dataset"], acc["n"]):
        return _not_measured(key, limit, f"the reference's top-1 is on {theirs['n']} {theirs['dataset']} images, "
                                         f"this file's on {acc['n']} {acc['dataset']} images: not comparable")
    drop = round(theirs["top1"] - acc["top1"], 4)
    return _at_most(key, drop, limit, f"{acc['top1']:.2f}% vs {theirs['top1']:.2f}% (reference {reference['path']})")


def _describe(test: LatencyDecision, unit: str, alpha: float) -> str:
    if test.estimate is None:
        return test.reason
    low, high = (f"{v:.4g}" if v is not None else "?" for v in test.ci)
    runs = " vs ".join(str(n) for n in test.n)
    text = f"{test.estimate:.4g}{unit and ' ' + unit} [{low}, {high}] {100 * (1 - 2 * alpha):.4g}% CI, {runs} runs"
    if test.verdict == "inconclusive":
        text += "; too noisy to decide: rerun with more --runs or on a quieter machine"
    return text


CHECKS = {
    "max_size_mb": _size, "max_params": _params, "max_macs": _macs,
    "max_latency_p50_ms": _percentile("max_latency_p50_ms", 0.5),
    "max_latency_p90_ms": _percentile("max_latency_p90_ms", 0.9),
    "max_latency_ratio": _ratio, "min_top1": _top1, "max_top1_drop": _top1_drop,
    "max_latency_ratio_vs_reference": _ratio_vs_reference, "max_size_growth": _size_growth,
    "max_top1_drop_vs_reference": _top1_drop_vs_reference,
}
