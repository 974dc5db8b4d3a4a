"""JUnit XML of a gate result, the format CI systems (GitHub, GitLab, Jenkins) display as test results.

One <testcase> per check: a violated budget is a <failure>, an inconclusive latency test an <error> (the gate
could not decide; the job exits 3), a passed one is empty.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgekit.bench.gate_output import limit_text, observed_text


def junit_xml(gate: dict) -> str:
    """The gate as a JUnit XML document (one test suite per model)."""
    checks = gate["checks"]
    failures = sum(c["verdict"] == "fail" for c in checks)
    errors = sum(c["verdict"] == "inconclusive" for c in checks)
    suites = ET.Element("testsuites", name="edgekit budgets", tests=str(len(checks)), failures=str(failures),
                        errors=str(errors))
    suite = ET.SubElement(suites, "testsuite", name=f"edgekit budgets: {gate['model']}", tests=str(len(checks)),
                          failures=str(failures), errors=str(errors), skipped="0")
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname=f"edgekit.{gate['model']}.{check['format']}.{check['precision']}",
                             name=f"{check['budget']}: {limit_text(check)}")
        message = f"observed {observed_text(check)}: {check['detail']}"
        if check["verdict"] == "fail":
            ET.SubElement(case, "failure", message=message, type="budget_violated").text = message
        elif check["verdict"] == "inconclusive":
            ET.SubElement(case, "error", message=message, type="inconclusive").text = message
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
