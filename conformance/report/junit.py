"""JUnit XML, one <testsuite> per kernel, valid against the Jenkins/xunit junit-10.xsd.

Suites and cases are built with junit-xml; two of its habits are corrected
because the schema dashboards validate against does not allow them: the
``disabled`` attribute (not in junit-10.xsd) and float formatting of the suite
time (the schema's SUREFIRE_TIME has no exponent form).

The verdict travels as data: every ``failure``, ``error`` and ``skipped``
element has ``type="kconform.<verdict>"`` (``kconform.old-model`` ...), which
is what ``kconform report`` reads back.  The message is display text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from junit_xml import TestCase, TestSuite

from conformance.report.atomic import write_atomic
from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict, tagged

TYPE_PREFIX = "kconform."


def suite_name(run: RunRecord) -> str:
    p = run.properties
    label = p.get("run.label", "")
    base = f"kconform {p.get('kernel.release', '?')} {p.get('kernel.arch', '?')}"
    return f"{label} {base}".strip() if label else base


def _case(rec_verdict: Verdict, name: str, classname: str, message: str, duration: float,
          details: str) -> TestCase:
    tc = TestCase(name=name, classname=classname, elapsed_sec=round(duration, 6),
                  stdout=details or None)
    # The message goes into the attribute (Jenkins) and the text (GitLab shows only the text).
    if rec_verdict is Verdict.FAIL:
        tc.add_failure_info(message=message, output=message, failure_type=TYPE_PREFIX + rec_verdict.value)
    elif rec_verdict is Verdict.ERROR:
        tc.add_error_info(message=message, output=message, error_type=TYPE_PREFIX + rec_verdict.value)
    elif rec_verdict is not Verdict.PASS:
        shown = tagged(rec_verdict, message)
        tc.add_skipped_info(message=shown, output=shown)
    return tc


def build(runs: Sequence[RunRecord]) -> ET.Element:
    root = ET.Element("testsuites")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for run in runs:
        cases = [_case(c.verdict, c.name, c.classname, c.message, c.duration, c.details) for c in run.cases]
        suite = TestSuite(
            suite_name(run),
            cases,
            hostname=run.properties.get("run.hostname"),
            timestamp=run.properties.get("run.started"),
            properties=dict(sorted(run.properties.items())),
        )
        el = suite.build_xml_doc()
        el.attrib.pop("disabled", None)
        for tc_el, rec in zip(el.iter("testcase"), run.cases, strict=True):
            if (skipped := tc_el.find("skipped")) is not None:
                skipped.set("type", TYPE_PREFIX + rec.verdict.value)
        seconds = sum(c.duration for c in run.cases)
        el.set("time", f"{seconds:.3f}")
        total_time += seconds
        for key in totals:
            totals[key] += int(el.get(key, "0"))
        root.append(el)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    return root


def render(runs: Sequence[RunRecord]) -> str:
    root = build(runs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(path: Path, runs: Sequence[RunRecord]) -> None:
    write_atomic(path, render(runs))
