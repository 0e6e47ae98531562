"""Conformance reports: the console table while a run goes, JSON (``report.schema.json``), JUnit XML and a
self-contained HTML page fit to attach to a certification.

JUnit: one ``<testcase>`` per check with its level and spec reference as properties. A MUST check that
failed is a ``<failure>``, one that could not be judged an ``<error>``; a SHOULD check that failed is
reported ``<skipped>`` with the reason (visible, but it does not fail a build), as is a check that does
not apply.

Example::

    click.echo(progress_line(result, 3, 66))
    Path("report.xml").write_text(junit_xml(report))
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any

import click
from jinja2 import Environment, select_autoescape

from conformance.harness.checks import MUST, CheckResult, Outcome
from conformance.harness.runner import RunReport

MARKS = {
    Outcome.PASSED: ("PASS", "green"),
    Outcome.FAILED: ("FAIL", "red"),
    Outcome.NOT_JUDGED: ("N/J ", "yellow"),
    Outcome.SKIPPED: ("SKIP", "bright_black"),
}


def progress_line(result: CheckResult, index: int, total: int) -> str:
    """``[ 3/66] PASS MUST   SAML-SP-HONEST-2  A response whose …   41 ms``, coloured for a terminal."""
    word, colour = MARKS[result.outcome]
    mark = click.style(word, fg=colour, bold=result.outcome == Outcome.FAILED)
    width = len(str(total))
    title = result.check.title if len(result.check.title) <= 60 else result.check.title[:59] + "…"
    line = (
        f"[{index:>{width}}/{total}] {mark} {result.check.level:<6} {result.check.id:<18} {title:<60} "
        f"{result.duration_ms:>7.0f} ms"
    )
    if result.outcome in (Outcome.FAILED, Outcome.NOT_JUDGED):
        line += "\n" + click.style(f"{'':>{2 * width + 4}}{result.reason}", fg=colour)
    return line


def summary_lines(report: RunReport) -> list[str]:
    counts = report.summary()
    verdict = (
        click.style("CERTIFIED", fg="green", bold=True)
        if report.ok
        else click.style("NOT CERTIFIED", fg="red", bold=True)
    )
    return [
        "",
        f"{verdict}  {report.suite.name}: {counts['passed']} passed, {counts['failed']} failed "
        f"({counts['must_failed']} MUST, {counts['should_failed']} SHOULD), "
        f"{counts['not_judged']} not judged, {counts['skipped']} skipped, "
        f"in {report.duration_ms / 1000:.1f} s",
    ]


def json_report(report: RunReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def junit_xml(report: RunReport) -> str:
    """A JUnit XML document: one testsuite, one testcase per check (see the module docstring)."""
    counts = report.summary()
    suites = ET.Element("testsuites", name=f"sandbox certify {report.suite.name}")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=report.suite.name,
        tests=str(counts["checks"]),
        failures=str(counts["must_failed"]),
        errors=str(report.count(Outcome.NOT_JUDGED, "MUST")),
        skipped=str(counts["skipped"] + counts["should_failed"] + report.count(Outcome.NOT_JUDGED, "SHOULD")),
        time=f"{report.duration_ms / 1000:.3f}",
        timestamp=report.started_at,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in report.context.items():
        if isinstance(value, str):
            ET.SubElement(properties, "property", name=name, value=value)
    for result in report.results:
        check = result.check
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report.suite.name}.{check.group}",
            name=f"{check.id} {check.title}",
            time=f"{result.duration_ms / 1000:.3f}",
        )
        case_properties = ET.SubElement(case, "properties")
        for name, value in (
            ("id", check.id),
            ("level", str(check.level)),
            ("spec", check.spec),
            ("outcome", str(result.outcome)),
        ):
            ET.SubElement(case_properties, "property", name=name, value=value)
        must = check.level == MUST
        if result.outcome == Outcome.FAILED and must:
            failure = ET.SubElement(case, "failure", message=result.reason, type="MUST")
            observed = json.dumps(result.observed, indent=2)
            failure.text = f"{result.reason}\n\nRemediation: {check.remediation}\n\nObserved: {observed}"
        elif result.outcome == Outcome.FAILED:
            ET.SubElement(case, "skipped", message=f"SHOULD not met: {result.reason}")
        elif result.outcome == Outcome.NOT_JUDGED:
            ET.SubElement(case, "error" if must else "skipped", message=result.reason)
        elif result.outcome == Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=result.reason)
        if result.sent.description:
            ET.SubElement(case, "system-out").text = f"Sent: {result.sent.description}\n{result.reason}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _environment() -> Environment:
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    environment.filters["json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return environment


def html_report(report: RunReport | dict[str, Any]) -> str:
    """The report as one HTML page (inline styles, no scripts, no external resources)."""
    document = report.to_json() if isinstance(report, RunReport) else report
    template = resources.files("conformance.harness").joinpath("report.html.j2").read_text(encoding="utf-8")
    for check in document["checks"]:
        message = check["sent"].get("message") or ""
        changed = set(check["sent"].get("changed_lines") or [])
        check["sent_lines"] = [
            (number, line, number in changed) for number, line in enumerate(message.splitlines(), 1)
        ]
    return _environment().from_string(template).render(report=document)
