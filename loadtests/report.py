"""The load test's report: locust's statistics, the reconciliation, the CPU each side used, the verdict.

One JSON document (written by ``--json``, rendered by ``--html`` as one self-contained page) holds:
requests, failures, requests/s and p50/p95/p99 per endpoint and in total; requests per second over the
run; the reconciliation tables; and — when the sandbox was started by ``sandbox up`` on this machine —
the sandbox's own CPU time per request next to the load generator's, which says which side was the
bottleneck.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import click
import httpx
import psutil

from loadtests.plan import Plan
from loadtests.reconcile import Section, judged
from simulator.scenario.client import ApiError, SandboxClient

if TYPE_CHECKING:
    from loadtests.cli import RunSettings


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its living descendants; 0 when it is gone."""
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for member in family:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


@dataclass
class SandboxCpu:
    """CPU seconds of each process of a sandbox ``sandbox up`` runs on this machine, over the run."""

    before: dict[str, tuple[int, float]]

    @classmethod
    def start(cls, client: SandboxClient) -> SandboxCpu:
        try:
            processes = client.processes()
        except (ApiError, httpx.HTTPError):
            return cls({})  # not started by `sandbox up`, or not this machine's: nothing to measure
        return cls(
            {
                p["name"]: (p["pid"], _tree_cpu(p["pid"]))
                for p in processes
                if p.get("pid") and psutil.pid_exists(p["pid"])
            }
        )

    def stop(self) -> dict[str, float]:
        return {name: max(_tree_cpu(pid) - cpu, 0.0) for name, (pid, cpu) in self.before.items()}


def document(
    plan: Plan,
    settings: RunSettings,
    rules: list[dict[str, Any]],
    result: dict[str, Any],
    sections: list[Section],
    sandbox_cpu: dict[str, float],
    generator_cpu: float,
    max_error_rate: float | None,
) -> dict[str, Any]:
    """The whole report as one JSON-ready document."""
    stats = result["stats"]
    total = stats["total"]
    seconds = max(result["stopped_at"] - result["started_at"], 0.001)
    error_rate = total["failures"] / total["requests"] if total["requests"] else 0.0
    passed, problems = judged(sections)
    if max_error_rate is not None and error_rate > max_error_rate:
        problems.append(f"the error rate {error_rate:.2%} passed --max-error-rate {max_error_rate:.2%}")
        passed = False
    cpu: dict[str, Any] = {
        "load_generator_seconds": generator_cpu,
        "load_generator_cores": generator_cpu / seconds,
    }
    if sandbox_cpu:
        sandbox_total = sum(sandbox_cpu.values())
        cpu |= {
            "sandbox_seconds": sandbox_cpu,
            "sandbox_cores": sandbox_total / seconds,
            "sandbox_ms_per_request": 1000 * sandbox_total / total["requests"] if total["requests"] else None,
        }
    return {
        "profile": plan.profile,
        "run_id": plan.run_id,
        "tenant": plan.tenant,
        "sandbox": {"console_url": plan.console_url, "ams_url": plan.ams_url, "lms_url": plan.lms_url},
        "started_at": dt.datetime.fromtimestamp(result["started_at"], dt.UTC).isoformat(),
        "duration_seconds": seconds,
        "stop_reason": result["stop_reason"],
        "settings": {
            "users": settings.users,
            "spawn_rate": settings.spawn_rate,
            "run_time_seconds": settings.run_time,
            "max_requests": settings.max_requests,
            "workers": result.get("workers", 0),
        },
        "options": plan.options,
        "faults": rules,
        "locust": stats,
        "error_rate": error_rate,
        "cpu": cpu,
        "reconciliation": [section.to_json() for section in sections],
        "verdict": {"passed": passed, "problems": problems},
    }


def echo(report: dict[str, Any], sections: list[Section]) -> None:
    """Print the reconciliation tables, the CPU each side used, and the verdict."""
    from simulator.cli.common import new_table, print_table

    for section in sections:
        table = new_table("measure", "value", "note", title=f"Reconciliation: {section.title}")
        for row in section.rows:
            value = f"{row.value:,}" if isinstance(row.value, int) else str(row.value)
            style = "bold red" if row.problem else None
            table.add_row(row.measure, value, row.note, style=style)
        print_table(table)
    total = report["locust"]["total"]
    latency = ", ".join(f"p{n} {_ms(total[f'p{n}_ms'])}" for n in (50, 95, 99))
    rate = f"{total['requests_per_second']:.1f}/s"
    click.echo(
        f"Requests: {total['requests']:,} ({rate}), failures {total['failures']:,} "
        f"({report['error_rate']:.2%}); {latency}."
    )
    cpu = report["cpu"]
    generator = f"the load generator {cpu['load_generator_cores']:.2f} cores"
    if "sandbox_cores" in cpu:
        per_request = _ms(cpu["sandbox_ms_per_request"])
        click.echo(
            f"CPU: the sandbox used {cpu['sandbox_cores']:.2f} cores ({per_request} a request), {generator}."
        )
    else:
        click.echo(f"CPU: {generator}.")
    verdict = report["verdict"]
    if verdict["passed"]:
        click.echo(click.style("PASSED: nothing lost, nothing duplicated.", fg="green", bold=True))
    else:
        click.echo(click.style("FAILED:", fg="red", bold=True))
        for problem in verdict["problems"]:
            click.echo(click.style(f"  - {problem}", fg="red"))


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def json_text(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"


def html_text(report: dict[str, Any]) -> str:
    """The report as one HTML page (inline styles and SVG, no scripts, no external resources)."""
    from jinja2 import Environment, select_autoescape

    template = resources.files("loadtests").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    environment.filters["ms"] = _ms
    environment.filters["json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return environment.from_string(template).render(
        report=report, chart=_chart(report["locust"]["per_second"])
    )


def _chart(per_second: list[list[int]], width: int = 720, height: int = 160) -> dict[str, Any]:
    """Polylines (requests and failures per second) scaled into a ``width`` × ``height`` box."""
    if not per_second:
        return {"requests": "", "failures": "", "peak": 0, "seconds": 0, "width": width, "height": height}
    peak = max([row[1] for row in per_second] + [1])
    step = width / max(len(per_second) - 1, 1)

    def points(column: int) -> str:
        return " ".join(
            f"{i * step:.1f},{height - height * row[column] / peak:.1f}" for i, row in enumerate(per_second)
        )

    return {
        "requests": points(1),
        "failures": points(2),
        "peak": peak,
        "seconds": len(per_second),
        "width": width,
        "height": height,
    }
