"""The Markdown report of a benchmark run, ``results.md``, and its charts: a section per benchmark.

``report`` turns the document run.py writes to results.json into results.md: a table of every
benchmark's status, then one section each with its headline comparisons as ratios and its tables,
drawing its charts (PNG, in the charts folder) on the way and embedding them by relative path. A
benchmark without results, or whose JSON has a shape its section does not know, gets a note instead.
The tables' and charts' building blocks are in bench_render.py. A module of this folder, not a
benchmark script: imported as ``bench_report`` by run.py (``python benchmarks/run.py`` puts this folder
first on ``sys.path``).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_load_report import loadtest_section, soak_section
from bench_render import Charts, bars, figure, listed, number, ratio, table

log = logging.getLogger("benchmarks.report")


# --- one section per benchmark ---------------------------------------------------------------------


def writeback_section(data: dict[str, Any], charts: Charts) -> list[str]:
    ingest = {row["measure"]: row for row in data["ingest"]}
    bulk = ingest["http bulk 100"]
    lines = [
        f"{data['backend']}, {data['server']}; medians of {data['repeat']} run(s).",
        "",
        f"**HTTP bulk 100: {number(bulk['records_per_second'])} records/s = "
        f"{bulk['of_bare_one_transaction']:.2f}× the bare insert in one transaction, "
        f"{bulk['of_bare_500_per_transaction']:.2f}× the bare insert committing every 500 rows.**",
        "",
    ]
    header = ["measure", "records", "records/s", "÷ bare insert (1 tx)", "÷ bare insert (500/tx)", "runs"]
    rows = [
        [
            row["measure"],
            f"{row['records']:,}",
            row["records_per_second"],
            f"{row['of_bare_one_transaction']:.2f}×",
            f"{row['of_bare_500_per_transaction']:.2f}×",
            listed(row["runs"]),
        ]
        for row in ingest.values()
    ]
    lines += table(header, rows)
    drawing, (axes,) = figure()
    names = list(ingest)
    rates = [ingest[name]["records_per_second"] for name in names]
    bars(axes, names, rates, "records/s", [name.startswith("bare") for name in names])
    lines.append(charts.save("writeback_ingest", "Writeback ingest paths vs bare insert", drawing))
    nightly = data.get("nightly") or {}
    if not nightly:
        return [*lines, "No nightly batch in this run: its table and chart are skipped.", ""]
    lines += table(
        ["nightly batch of", "completions created (s)", "advance + deliver + store (s)", "records/s"],
        [
            [
                f"{int(size):,}",
                t["completions_seconds"],
                t["advance_and_deliver_seconds"],
                t["records_per_second"],
            ]
            for size, t in nightly.items()
        ],
    )
    drawing, (axes,) = figure(width=6)
    sizes = [f"{int(size):,}" for size in nightly]
    bars(axes, sizes, [t["advance_and_deliver_seconds"] for t in nightly.values()], "seconds")
    axes.set_xlabel("records in the batch")
    lines.append(
        charts.save("writeback_nightly", "Nightly batch: advance the clock, deliver, store", drawing)
    )
    return lines


def sso_section(data: dict[str, Any], charts: Charts) -> list[str]:
    raw = {
        "sign+verify in process (python-xmlsec)": data["sign_verify_inprocess"],
        "sign+verify with the xmlsec1 binary": data.get("sign_verify_xmlsec1"),
        "SAML Response build (pysaml2)": data["saml_response_build"],
        "ID token sign+verify (joserfc)": data["id_token_sign_verify"],
    }
    references = {"saml": "sign+verify in process (python-xmlsec)", "oidc": "ID token sign+verify (joserfc)"}
    setup = data.get("setup", {})
    lines = [
        f"{setup.get('clients')} browsers, {setup.get('transport')}; medians of {setup.get('runs')}.",
        "",
    ]
    rows, labels, values, baseline = [], [], [], []
    for protocol, reference in references.items():
        logins = data.get(f"{protocol}_logins_http")
        if not logins:
            continue
        rate, raw_rate = logins["per_second_median"], raw[reference]["per_second"]
        lines.append(
            f"**{protocol.upper()}: {number(rate)} sign-ins/s = {ratio(rate, raw_rate)} the raw "
            f"{reference} rate ({number(raw_rate)}/s).**\n"
        )
        cpu = f"server CPU {logins['server_cpu_ms_per_login_median']} ms per sign-in"
        rows.append([f"{protocol.upper()} sign-ins over HTTP", rate, 1000 / rate if rate else None, cpu])
        labels.append(f"{protocol.upper()} sign-ins")
        values.append(rate)
        baseline.append(False)
    for name, measured in raw.items():
        if isinstance(measured, dict):
            rows.append([name, measured["per_second"], measured["ms_each"], f"{measured['runs']} runs"])
            labels.append(name.split(" (")[0])
            values.append(measured["per_second"])
            baseline.append(True)
        elif measured:
            rows.append([name, None, None, str(measured)])
    lines += ["", *table(["measure", "per second", "ms each", "note"], rows)]
    drawing, (axes,) = figure(width=8.5, height=4.5)
    bars(axes, labels, values, "per second (log scale)", baseline)
    axes.set_yscale("log")
    lines.append(charts.save("sso", "Sign-ins/s over HTTP vs raw signature operations/s", drawing))
    return lines


def checkout_section(data: dict[str, Any], charts: Charts) -> list[str]:
    rates, latency = data["checkouts_per_second"], data["webhook_to_enrollment_ms"]
    threads = next(key for key in rates if key.endswith("_threads"))
    sequential, concurrent = rates["sequential"], rates[threads]
    per_checkout = rates["requests_per_checkout"]
    lines = [
        f"On {data['database']}; {per_checkout} requests per checkout. **{threads.replace('_', ' ')}: "
        f"{number(concurrent)} checkouts/s = {ratio(concurrent, sequential)} sequential.** The webhook "
        f"delivery is {ratio(latency['delivery_median'] or 0, latency['end_to_end_median'])} of the "
        f"checkout → enrollment median (worker poll {latency['worker_poll_seconds']} s).",
        "",
    ]
    lines += table(
        ["measure", "value"],
        [
            ["checkouts/s, sequential", sequential],
            [f"checkouts/s, {threads.replace('_', ' ')}", concurrent],
            [f"requests/s, {threads.replace('_', ' ')}", concurrent * per_checkout],
            ["checkout → enrollment, median ms", latency["end_to_end_median"]],
            ["checkout → enrollment, p95 ms", latency["end_to_end_p95"]],
            ["webhook delivery alone, median ms", latency["delivery_median"]],
            ["webhook delivery alone, p95 ms", latency["delivery_p95"]],
        ],
    )
    drawing, (left, right) = figure(columns=2, width=9)
    bars(left, ["sequential", threads.replace("_", " ")], [sequential, concurrent], "checkouts/s")
    steps = {"end to end": "end_to_end", "delivery": "delivery"}
    labels = [f"{name} {kind}" for name in steps for kind in ("median", "p95")]
    values = [latency[f"{key}_{kind}"] or 0 for key in steps.values() for kind in ("median", "p95")]
    bars(right, labels, values, "ms", [label.startswith("delivery") for label in labels])
    lines.append(charts.save("checkout", "Checkouts/s and checkout → enrollment latency", drawing))
    return lines


def slowest_step(step: dict[str, Any] | None) -> str:
    return f"{step['step']} ({number(step['median_ms'])} ms)" if step else "–"


def scenarios_section(data: dict[str, Any], charts: Charts) -> list[str]:
    library, files, fixed = data["library"], data["scenarios"], data["baseline"]
    setup_and_teardown = library["setup_ms_sum_of_medians"] + library["teardown_ms_sum_of_medians"]
    lines = [
        f"**The whole library ({len(files)} files, {library['steps']} steps): "
        f"{library['median_ms'] / 1000:.1f} s** (median of {data['setup']['repeat']}); tenant set-up and "
        f"teardown are {ratio(setup_and_teardown, library['median_ms'])} of it, `wait_for` polling "
        f"{ratio(library['wait_for_ms_sum_of_medians'], library['median_ms'])}. A tenant create+seed alone "
        f"takes {number(fixed['tenant_create_seed_ms'])} ms, a delete {number(fixed['tenant_delete_ms'])} ms,"
        " one `sso_login` "
        + ", ".join(f"{p} {number(fixed[f'sso_login_{p}_ms'])} ms" for p in ("saml", "oidc", "token"))
        + ".",
        "",
    ]
    header = ["file", "steps", "median s", "setup s", "steps s", "of which waits s", "teardown s"]
    rows = [
        [
            name,
            str(file["steps"]),
            *(file[f"{part}_ms"] / 1000 for part in ("median", "setup_median", "steps_median")),
            *(file[f"{part}_ms"] / 1000 for part in ("wait_for_median", "teardown_median")),
            slowest_step(file["slowest_step"]),
            f"{file['ok_runs']}/{len(file['runs_ms'])}",
        ]
        for name, file in files.items()
    ]
    lines += table([*header, "slowest step", "ok runs"], rows)
    lines += [f"Skipped (did not load): {name}" for name in data.get("invalid_files", {})]
    drawing, (axes,) = figure(width=9, height=1.5 + 0.35 * len(files))
    names = list(files)
    left = [0.0] * len(names)
    parts = {
        "setup": [files[n]["setup_median_ms"] for n in names],
        "steps (no waits)": [files[n]["steps_median_ms"] - files[n]["wait_for_median_ms"] for n in names],
        "wait_for": [files[n]["wait_for_median_ms"] for n in names],
        "teardown": [files[n]["teardown_median_ms"] for n in names],
    }
    for part, milliseconds in parts.items():
        seconds = [value / 1000 for value in milliseconds]
        axes.barh(names, seconds, left=left, label=part)
        left = [start + value for start, value in zip(left, seconds, strict=True)]
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlabel("seconds (median)")
    axes.legend(fontsize=8)
    lines.append(charts.save("scenarios", "Scenario library: wall time per scenario", drawing))
    return lines


def seed_section(data: dict[str, Any], charts: Charts) -> list[str]:
    results = data["results"]
    header = ["backend", "members", "seed s", "generate s", "insert s", "seed members/s", "insert members/s"]
    rows = [
        [
            row["backend"],
            f"{row['members']:,}",
            *(row[f"{part}_seconds"] for part in ("seed", "generate", "insert")),
            *(row[f"{part}_members_per_second"] for part in ("seed", "insert")),
            ratio(row["seed_seconds"], row["insert_seconds"]),
        ]
        for row in results
    ]
    lines = [
        "`seed` is the whole of seeding (plan, organisations, members, committed); `insert` the bare bulk "
        "insert of the same rows: **seed ÷ insert** is what generation and the ORM add.",
        "",
        *table([*header, "seed ÷ insert"], rows),
    ]
    drawing, (axes,) = figure(width=6.5)
    for index, backend in enumerate(dict.fromkeys(row["backend"] for row in results)):
        mine = [row for row in results if row["backend"] == backend]
        sizes = [row["members"] for row in mine]
        for part, style in (("seed", "o-"), ("insert", ".--")):
            seconds = [row[f"{part}_seconds"] for row in mine]
            axes.plot(sizes, seconds, style, color=f"C{index}", label=f"{backend}: {part}")
    axes.set(xscale="log", yscale="log", xlabel="members", ylabel="seconds")
    axes.legend(fontsize=8)
    lines.append(charts.save("seed", "Seeding time vs size", drawing))
    return lines


def conformance_section(data: dict[str, Any], charts: Charts) -> list[str]:
    suite, sign_ins, checks = data["median_suite_seconds"], data["median_sign_ins_seconds"], data["checks"]
    lines = [
        f"**The saml-sp suite ({checks} checks): {suite:.2f} s = {ratio(suite, sign_ins)} as many plain "
        f"SAML sign-ins ({sign_ins:.2f} s)**; medians of {data['repeat']}.",
        "",
    ]
    lines += table(
        ["measure", "median s", "ms each", "runs s"],
        [
            [f"whole suite ({checks} checks)", suite, 1000 * suite / checks, listed(data["suite_seconds"])],
            [
                f"{checks} plain sign-ins",
                sign_ins,
                1000 * sign_ins / checks,
                listed(data["sign_ins_seconds"]),
            ],
        ],
    )
    slowest = sorted(data["median_check_ms"].items(), key=lambda item: item[1], reverse=True)[:5]
    lines += ["Slowest checks (median ms): " + ", ".join(f"{c} {number(ms)}" for c, ms in slowest), ""]
    drawing, (axes,) = figure(width=5)
    bars(axes, ["saml-sp suite", "plain sign-ins"], [suite, sign_ins], "seconds (median)", [False, True])
    lines.append(charts.save("conformance", f"Conformance suite vs {checks} plain sign-ins", drawing))
    return lines


def startup_section(data: dict[str, Any], charts: Charts) -> list[str]:
    measures = {
        "import simulator.console.app": data["import_seconds"],
        "sandbox up, cold data folder": data["up_cold_seconds"],
        "sandbox up, warm data folder": data["up_warm_seconds"],
    }
    medians = {name: statistics.median(runs) for name, runs in measures.items()}
    imported = medians["import simulator.console.app"]
    cold = medians["sandbox up, cold data folder"]
    met = "met" if cold <= 1.5 * imported else "**not met**"
    lines = [f"**`sandbox up` (cold) = {ratio(cold, imported)} one import** (target ≤ 1.5×: {met}).", ""]
    lines += table(
        ["measure", "median s", "× import", "runs s"],
        [
            [name, medians[name], ratio(medians[name], imported), listed(runs)]
            for name, runs in measures.items()
        ],
    )
    drawing, (axes,) = figure(width=6)
    bars(axes, list(medians), list(medians.values()), "seconds (median)", [True, False, False])
    axes.axhline(1.5 * imported, ls="--", color="tab:red", label="target: 1.5× import")
    axes.legend(fontsize=8)
    lines.append(charts.save("startup", "Start-up: sandbox up vs one import", drawing))
    return lines


def console_section(data: dict[str, Any], charts: Charts) -> list[str]:
    pages = data["pages"]
    slowest = max(pages, key=lambda name: pages[name]["page_ms"])
    lines = [
        f"**Slowest console page: {slowest}, {number(pages[slowest]['page_ms'])} ms** "
        f"({ratio(pages[slowest]['page_ms'], data['healthz_ms'])} the console's /healthz).",
        "",
    ]
    lines += table(
        ["page", "page median ms", "API median ms", "page × API", "page × /healthz"],
        [
            [
                name,
                row["page_ms"],
                row["api_ms"] if row["api_ms"] is not None else "–",
                ratio(row["page_ms"], row["api_ms"]) if row["api_ms"] else "–",
                ratio(row["page_ms"], data["healthz_ms"]),
            ]
            for name, row in pages.items()
        ],
    )
    drawing, (axes,) = figure(width=7)
    bars(axes, list(pages), [row["page_ms"] for row in pages.values()], "ms (median)", [False] * len(pages))
    lines.append(charts.save("console", "Console pages: median time to answer", drawing))
    return lines


SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any], Charts], list[str]]]] = {
    "startup": ("Start-up", startup_section),
    "seed": ("Seeding", seed_section),
    "sso": ("Single sign-on", sso_section),
    "checkout": ("Checkout", checkout_section),
    "writeback": ("Writeback", writeback_section),
    "scenarios": ("Scenario library", scenarios_section),
    "conformance": ("Conformance suite", conformance_section),
    "loadtest": ("Load test", loadtest_section),
    "soak": ("Soak", soak_section),
    "console": ("Console pages", console_section),
}


# --- the report ------------------------------------------------------------------------------------


def status(entry: dict[str, Any]) -> str:
    run = entry["run"]
    if entry["error"]:
        return f"failed: {entry['error']}"
    if run is None:
        return "not run by run.py (JSON file only)" if entry["results"] else "no results"
    return "ok (--quick parameters)" if run["quick"] else "ok"


def report(document: dict[str, Any], charts_folder: Path) -> str:
    """results.md, drawing its charts into ``charts_folder`` on the way."""
    charts = Charts(charts_folder)
    commit = document["commit"]
    at = f"commit `{commit['sha'][:12]}`" if commit else "no git commit"
    if commit and commit["uncommitted_changes"]:
        at += " with uncommitted changes"
    machine = document["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Written {document['generated_at']} at {at}; Python {machine['python']}, {machine['cpus']} CPUs. "
        "Every benchmark compares itself with a baseline measured in the same run.",
        "",
    ]
    entries = document["benchmarks"]
    if any((entry["run"] or {}).get("quick") for entry in entries.values()):
        lines += ["**Some results come from `--quick` runs: trial parameters, not meaningful numbers.**", ""]
    rows = []
    for name, entry in entries.items():
        run = entry["run"] or {}
        took, command = (f"{run['seconds']:.0f} s", f"`{' '.join(run['command'])}`") if run else ("–", "–")
        rows.append([name, status(entry), run.get("started_at", "–"), took, command])
    lines += table(["benchmark", "status", "started", "took", "command"], rows)
    for name, entry in entries.items():
        title, render = SECTIONS[name]
        lines += [f"## {title} (`{name}`)", ""]
        if entry["results"] is None:
            lines += [f"No results ({status(entry)}): table and charts skipped.", ""]
            continue
        try:
            lines += render(entry["results"], charts)
        except (KeyError, TypeError, ValueError, IndexError, StopIteration, ZeroDivisionError) as exc:
            log.warning("%s.json has a shape this report does not know: %r", name, exc)
            lines += [
                f"The results could not be read ({type(exc).__name__}: {exc}): the rest is skipped.",
                "",
            ]
    return "\n".join(lines)
