"""Scenario run reports: the console timeline, JUnit XML for CI, and JSON.

JUnit: one ``<testsuite>`` per scenario, one ``<testcase>`` per step (setup included), a ``<failure>``
with the expected-vs-observed message on the failing step and ``<skipped>`` on the steps after it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from simulator.scenario.runner import RunResult, StepResult

OBSERVED_WIDTH = 100


def _observed_text(observed: dict[str, Any]) -> str:
    text = json.dumps(observed, separators=(", ", ": "), ensure_ascii=False, default=str)
    return text if len(text) <= OBSERVED_WIDTH else text[: OBSERVED_WIDTH - 1] + "…"


def _mark(entry: StepResult) -> str:
    if entry.skipped:
        return click.style("-", fg="yellow")
    return click.style("✓", fg="green") if entry.ok else click.style("✗", fg="red", bold=True)


def timeline_lines(result: RunResult) -> list[str]:
    """The human timeline of one run: a header, one line per step, and a verdict."""
    lines = [click.style(f"▶ {result.scenario}", bold=True) + f"  ({result.file}, tenant {result.tenant})"]
    for entry in [result.setup, *result.steps]:
        duration = "" if entry.skipped else f"{entry.duration_ms:8.0f} ms"
        lines.append(
            f"  {_mark(entry)} {entry.index:>2} L{entry.line:<4} {entry.label[:48]:<48} {duration:>11}"
        )
        if entry.error:
            lines.append(click.style(f"        {entry.error}", fg="red"))
        if entry.observed and not entry.skipped:
            lines.append(click.style(f"        observed {_observed_text(entry.observed)}", dim=True))
    verdict = (
        click.style("PASS", fg="green", bold=True) if result.ok else click.style("FAIL", fg="red", bold=True)
    )
    ran = sum(1 for entry in result.steps if not entry.skipped)
    lines.append(f"  {verdict} {ran}/{len(result.steps)} steps in {result.duration_ms / 1000:.1f} s")
    return lines


def print_timeline(result: RunResult) -> None:
    click.echo("\n".join(timeline_lines(result)))


def junit_xml(results: Sequence[RunResult]) -> str:
    """A JUnit XML document of the runs (what CI systems display)."""
    suites = ET.Element("testsuites", name="sandbox scenarios")
    for result in results:
        entries = [result.setup, *result.steps]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=result.scenario,
            file=result.file,
            tests=str(len(entries)),
            failures=str(sum(1 for e in entries if e.ok is False)),
            skipped=str(sum(1 for e in entries if e.skipped)),
            time=f"{result.duration_ms / 1000:.3f}",
            timestamp=result.started_at,
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="tenant", value=result.tenant)
        for entry in entries:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=Path(result.file).stem,
                name=f"{entry.index:02d} {entry.label}",
                file=result.file,
                line=str(entry.line),
                time=f"{entry.duration_ms / 1000:.3f}",
            )
            if entry.skipped:
                ET.SubElement(case, "skipped", message="an earlier step failed")
            elif not entry.ok:
                failure = ET.SubElement(case, "failure", message=entry.error or "failed", type="StepFailed")
                failure.text = json.dumps(entry.observed, indent=2, default=str)
            if entry.observed and entry.ok:
                ET.SubElement(case, "system-out").text = json.dumps(entry.observed, default=str)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def json_report(results: Sequence[RunResult]) -> str:
    document = {"ok": all(r.ok for r in results), "runs": [r.to_json() for r in results]}
    return json.dumps(document, indent=2, default=str) + "\n"
