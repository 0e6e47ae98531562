"""The load test's and the soak's sections of ``results.md``: targets, the writeback-ingest sweep (where
it saturates, latency and records/s against users), the SSO storm beside its baseline, and resident
memory over a soak. Imported by bench_report.py (a module of this folder, not a benchmark script).
"""

from __future__ import annotations

from typing import Any

from bench_render import BASELINE, Charts, figure, number, ratio, sweep_lines, table

SLOPE = "slope_mb_per_minute_second_half"


def saturation(runs: list[dict[str, Any]], value: str) -> str:
    """Where each series of a sweep stops gaining: its peak, and the fewest users within 5 % of it."""
    notes = []
    for database in dict.fromkeys(run["database"] for run in runs):
        mine = sorted((run for run in runs if run["database"] == database), key=lambda run: run["users"])
        peak = max(mine, key=lambda run: run[value])
        near = next(run for run in mine if run[value] >= 0.95 * peak[value])
        within = f" (within 5 % of it from {near['users']})" if near is not peak else ""
        notes.append(
            f"{database} peaks at {number(peak[value])} records/s with {peak['users']} users{within}"
        )
    return "; ".join(notes)


def loadtest_section(data: dict[str, Any], charts: Charts) -> list[str]:
    lines = ["Targets:", ""]
    lines += table(
        ["target", "goal", "measured", "met"],
        [
            [t["name"], t["target"], t["measured"], "✅ met" if t["met"] else "❌ **not met**"]
            for t in data.get("targets", [])
        ],
    )
    return lines + ingest_lines(data.get("writeback_ingest") or {}, charts) + storm_lines(data, charts)


def ingest_lines(ingest: dict[str, Any], charts: Charts) -> list[str]:
    """The load test's writeback-ingest sweep: its table, where it saturates, latency and records/s."""
    runs, baseline = ingest.get("runs", []), ingest.get("baseline_http_bulk100_records_per_second")
    lines = [f"**Writeback ingest** (baseline: HTTP bulk 100 alone, {number(baseline)} records/s).", ""]
    sweep = [run for run in runs if run.get("fault") is None]
    if not sweep:
        return [*lines, "No writeback-ingest sweep without faults: its table and charts are skipped.", ""]
    header = ["database", "users", "fault", "records/s", "÷ baseline", "requests/s", "p50 ms", "p95 ms"]
    lines += table(
        [*header, "p99 ms", "sent", "stored", "lost", "duplicated"],
        [
            [
                r["database"],
                str(r["users"]),
                r["fault"] or "–",
                r["records_per_second"],
                ratio(r["records_per_second"], baseline or 0),
                r["requests_per_second"],
                *(r[f"{percentile}_ms"] for percentile in ("p50", "p95", "p99")),
                *(r[count] for count in ("sent", "stored", "lost", "duplicated")),
            ]
            for r in runs
        ],
    )
    lines += [f"Where it saturates: {saturation(sweep, 'records_per_second')}.", ""]
    absent = [
        database for database in ("sqlite", "postgresql") if all(r["database"] != database for r in sweep)
    ]
    lines += [
        f"No {database} runs in the sweep: the charts have no {database} line.\n" for database in absent
    ]
    drawing, axes_row = figure(columns=3, width=11, height=3.8)
    for axes, percentile in zip(axes_row, ("p50", "p95", "p99"), strict=True):
        sweep_lines(axes, sweep, "database", f"{percentile}_ms")
        axes.set(title=percentile, ylabel="ms")
    lines.append(charts.save("loadtest_writeback_latency", "Writeback ingest: latency vs users", drawing))
    drawing, (axes,) = figure()
    sweep_lines(axes, sweep, "database", "records_per_second")
    if baseline:
        axes.axhline(baseline, ls="--", color=BASELINE, label="baseline: HTTP bulk 100 alone")
        axes.legend(fontsize=8)
    axes.set_ylabel("records/s")
    lines.append(
        charts.save("loadtest_writeback_throughput", "Writeback ingest: records/s vs users", drawing)
    )
    return lines


def storm_lines(data: dict[str, Any], charts: Charts) -> list[str]:
    """The load test's SSO storm: sign-ins/s and latency per protocol and users, beside the baseline."""
    storm = data.get("sso_storm") or {}
    runs, references = storm.get("runs", []), storm.get("baseline_sign_ins_per_second", {})
    lines = ["**SSO storm** (baseline: the sso benchmark's sign-ins/s).", ""]
    if not runs:
        return [*lines, "No SSO storm runs: its table and chart are skipped.", ""]
    lines += table(
        ["protocol", "users", "sign-ins/s", "÷ baseline", "p50 ms", "p95 ms", "p99 ms"],
        [
            [
                r["protocol"],
                str(r["users"]),
                r["sign_ins_per_second"],
                ratio(r["sign_ins_per_second"], references.get(r["protocol"], 0)),
                *(r[f"{percentile}_ms"] for percentile in ("p50", "p95", "p99")),
            ]
            for r in runs
        ],
    )
    drawing, (axes,) = figure()
    colours = sweep_lines(axes, runs, "protocol", "sign_ins_per_second")
    for protocol, reference in references.items():
        colour = colours.get(protocol, BASELINE)
        axes.axhline(reference, ls="--", color=colour, alpha=0.6, label=f"{protocol} baseline")
    axes.legend(fontsize=8)
    axes.set_ylabel("sign-ins/s")
    lines.append(
        charts.save("loadtest_sso_storm", "SSO storm: sign-ins/s vs users, and the baseline", drawing)
    )
    return lines


def soak_section(data: dict[str, Any], charts: Charts) -> list[str]:
    """Resident memory of every sandbox process over the soak: flat after its warm-up, or not."""
    setup = data["setup"]
    verdict = "✅ flat" if data["flat"] else "❌ **grew**"
    rate = f"{data['requests']} requests ({data['requests_per_second']}/s)"
    lines = [
        f"`exam-day` at a steady rate ({setup['users']} users, one task per {setup['pace_seconds']} s each) "
        f"for {number(setup['minutes'])} minutes: {rate}; "
        f"nothing lost or duplicated: {'yes' if data['verdict']['passed'] else '**no**'}. "
        f"Memory (every process ≤ 1.10× after its warm-up): {verdict}.",
        "",
    ]
    lines += table(
        ["process", "after warm-up MB", "end MB", "growth", "MB/min, second half"],
        [
            [
                name,
                row["after_warm_up_mb"],
                row["end_mb"],
                f"{row['growth']}×",
                row["slope_mb_per_minute_second_half"],
            ]
            for name, row in data["processes"].items()
        ],
    )
    drawing, (axes,) = figure()
    minutes = [sample["seconds"] / 60 for sample in data["samples"]]
    for name in data["processes"]:
        axes.plot(minutes, [sample.get(name) for sample in data["samples"]], label=name)
    axes.set(xlabel="minutes", ylabel="RSS (MB, with children)")
    axes.legend(fontsize=8)
    lines.append(charts.save("soak_rss", "Soak: resident memory over time", drawing))
    return lines
