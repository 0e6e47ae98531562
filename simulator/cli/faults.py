"""Fault rules on the database: ``faults list``, ``faults add`` and ``faults clear``.

A rule given as options or as ``--json`` is validated by the same model the control API uses
(:class:`simulator.core.faults.FaultRuleSpec`); a bad rule is reported as one sentence naming the option
(or the field, for ``--json``) and changes nothing.

Example::

    sandbox faults add --tenant acme --name "inbox down" --app ams --method POST \\
        --path /writeback/records --status 503 --retry-after 60
    sandbox faults list --tenant acme
    sandbox faults clear --tenant acme --id 3
"""

from __future__ import annotations

import json
from typing import Any

import click

from simulator.cli.common import (
    db_flags,
    echo_json,
    invalid_input,
    json_flag,
    load_settings,
    new_table,
    open_database,
    print_table,
)
from simulator.core.db import Database
from simulator.core.errors import ValidationFailed
from simulator.core.faults import FaultRuleSpec

RULE_EXAMPLE = '{"app": "ams", "path": "/api/members*", "status": 503, "first_n": 2}'


@click.group()
def faults() -> None:
    """List, add and clear a tenant's fault rules.

    Rules make the tenant's AMS and LMS fail on purpose; the first matching rule that fires decides a
    request. These commands work directly on the database; the fields are described in
    docs/faults-and-journal.md.
    """


def _check_tenant(db: Database, tenant_id: str) -> None:
    from simulator.core.tenancy import get_tenant

    with db.read() as session:
        get_tenant(session, tenant_id)


def _match(spec: FaultRuleSpec) -> str:
    return f"{spec.app or 'ams+lms'} {spec.method or 'ANY'} {spec.path}"


def _effect(spec: FaultRuleSpec) -> str:
    kind = spec.effective_kind
    status = spec.status if spec.status is not None else 200
    if kind == "respond":
        effect = f"status {status}"
    elif kind is None:
        effect = "pass through"
    else:
        effect = kind.replace("_", " ") + ("" if kind == "connection_reset" else f" (status {status})")
    if spec.retry_after is not None:
        effect += f", Retry-After {spec.retry_after}"
    if spec.delay is None:
        return effect
    lognormal = spec.delay.lognormal
    if lognormal is None:
        wait = f"{spec.delay.fixed_ms:g} ms"
    else:
        wait = f"~{lognormal.median_ms:g} ms (lognormal sigma {lognormal.sigma:g})"
    return f"delay {wait}, then {effect}"


def _frequency(spec: FaultRuleSpec) -> str:
    parts = []
    if spec.probability < 1:
        parts.append(f"probability={spec.probability:g} seed={spec.seed}")
    if spec.first_n is not None:
        parts.append(f"first_n={spec.first_n}")
    if spec.every_nth is not None:
        parts.append(f"every_nth={spec.every_nth}")
    return " ".join(parts) or "always"


@faults.command("list")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose fault rules to list.")
@json_flag
@db_flags
@click.pass_context
def faults_list(ctx: click.Context, tenant_id: str, as_json: bool, **flags: Any) -> None:
    """List the rules, with match and fire counts.

    Rules are shown in evaluation order; "matched" counts the requests a rule matched, "fired" those it
    actually faulted. --json prints what GET /api/tenants/{t}/faults answers.
    """
    from rich import box

    from simulator.core.faults import list_rules

    db = open_database(load_settings(ctx, **flags))
    _check_tenant(db, tenant_id)
    rules = list_rules(db, tenant_id)
    if as_json:
        echo_json({"rules": rules})
        return
    if not rules:
        click.echo(f"Tenant '{tenant_id}' has no fault rules.")
        return
    table = new_table(
        "id", "name", "match", "effect", "probability/count", "matched", "fired", box=box.SIMPLE_HEAD
    )
    for row in rules:
        spec = FaultRuleSpec.model_validate(row["rule"])
        table.add_row(
            str(row["id"]), spec.name or "", _match(spec), _effect(spec), _frequency(spec),
            str(row["matched_count"]), str(row["fired_count"]),
        )  # fmt: skip
    print_table(table)


def _rule_from_options(options: dict[str, Any], headers: tuple[str, ...]) -> dict[str, Any]:
    """The rule document the given options describe (options left out keep the rule's defaults)."""
    document = {field: value for field, value in options.items() if value is not None}
    delay_ms, sigma = document.pop("delay_ms", None), document.pop("delay_sigma", None)
    if sigma is not None:
        document["delay"] = {"lognormal": {"median_ms": delay_ms, "sigma": sigma}}
    elif delay_ms is not None:
        document["delay"] = {"fixed_ms": delay_ms}
    if headers:
        document["headers"] = {}
        for header in headers:
            name, colon, value = header.partition(":")
            if not colon:
                raise click.BadParameter(f"'{header}' is not 'Name: value'.", param_hint="'--header'")
            document["headers"][name.strip()] = value.strip()
    return document


def _rule_from_json(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc}).", param_hint="'--json'") from exc
    if not isinstance(document, dict):
        raise click.BadParameter(f"give one JSON object, e.g. {RULE_EXAMPLE}.", param_hint="'--json'")
    return document


def _option_for(field: str) -> str:
    """The ``faults add`` option that sets a rule field (``delay.lognormal.sigma`` → ``--delay-sigma``)."""
    top = field.split(".", maxsplit=1)[0]
    if top == "delay":
        return "--delay-sigma" if field.endswith("sigma") else "--delay-ms"
    return "--header" if top == "headers" else "--" + top.replace("_", "-")


@faults.command("add")
@click.option("--tenant", "tenant_id", required=True, help="Tenant to add the rule to.")
@click.option("--name", help="A label, shown in the journal entry of every request the rule faults.")
@click.option("--app", metavar="ams|lms", help="Which app the rule matches (default: both).")
@click.option("--method", help="HTTP method the rule matches, e.g. POST (default: any).")
@click.option("--path", metavar="GLOB", help="Glob over the path after /t/TENANT, e.g. '/api/members*'.")
@click.option("--status", type=int, help="Status of the injected response.")
@click.option("--body", help="Body of the injected response.")
@click.option("--content-type", help="Content-Type of the injected response (default application/json).")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="Extra response header.")
@click.option("--retry-after", type=int, metavar="SECONDS", help="Sent as Retry-After.")
@click.option("--delay-ms", type=float, help="Wait this long first (the median, with --delay-sigma).")
@click.option("--delay-sigma", type=float, help="Make the delay lognormal with this spread.")
@click.option(
    "--kind",
    metavar="KIND",
    help="respond (default with --status), connection_reset, empty_body or malformed_body.",
)
@click.option("--probability", type=float, help="Chance that a matching request fires (default 1).")
@click.option("--seed", type=int, help="Seed of the probability draw (same seed, same requests fire).")
@click.option("--first-n", type=int, metavar="N", help="Fire on the first N matching requests only.")
@click.option("--every-nth", type=int, metavar="N", help="Fire on matching requests N, 2N, 3N…")
@click.option(
    "--json", "rule_json", metavar="RULE", help="The whole rule as one JSON object (no other options)."
)
@db_flags
@click.pass_context
def faults_add(
    ctx: click.Context,
    tenant_id: str,
    headers: tuple[str, ...],
    rule_json: str | None,
    database_url: str | None,
    data_dir: str | None,
    **options: Any,
) -> None:
    """Add a rule, from options or from --json.

    The rule goes after the existing ones and is checked as the control API checks it; a bad rule
    changes nothing.

    \b
    Examples:
      sandbox faults add --tenant demo --name "inbox down" --app ams --method POST \\
          --path /writeback/records --status 503 --retry-after 60
      sandbox faults add --tenant demo --path '/api/members*' --delay-ms 300 --delay-sigma 0.5
      sandbox faults add --tenant demo --json '{"kind": "connection_reset", "probability": 0.1}'
    """
    from simulator.core.faults import append_rule, parse_rule

    given = [name for name, value in options.items() if value is not None] + (["header"] if headers else [])
    if rule_json is not None and given:
        raise click.UsageError("Give the rule either as --json or as options, not both.")
    if rule_json is None and not given:
        raise click.UsageError("Describe the rule with options (see --help) or --json.")
    from_json = rule_json is not None
    document = _rule_from_json(rule_json) if rule_json is not None else _rule_from_options(options, headers)
    try:
        spec = parse_rule(document)
    except ValidationFailed as exc:
        where = (lambda field: f"'{field}' in --json") if from_json else _option_for
        raise invalid_input(exc, where, "fault rule") from exc
    db = open_database(load_settings(ctx, database_url=database_url, data_dir=data_dir))
    _check_tenant(db, tenant_id)
    rule = append_rule(db, tenant_id, spec)
    label = f" '{spec.name}'" if spec.name else ""
    click.echo(
        f"Added fault rule {rule['id']}{label} to tenant '{tenant_id}': {_match(spec)} → {_effect(spec)}"
        f" ({_frequency(spec)})."
    )


@faults.command("clear")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose fault rules to remove.")
@click.option("--id", "rule_id", type=int, help="Remove only this rule (default: all of them).")
@db_flags
@click.pass_context
def faults_clear(ctx: click.Context, tenant_id: str, rule_id: int | None, **flags: Any) -> None:
    """Remove all rules, or one with --id."""
    from simulator.core.faults import clear_rules, delete_rule

    db = open_database(load_settings(ctx, **flags))
    _check_tenant(db, tenant_id)
    if rule_id is not None:
        delete_rule(db, tenant_id, rule_id)
        click.echo(f"Removed fault rule {rule_id} of tenant '{tenant_id}'.")
        return
    count = clear_rules(db, tenant_id)
    click.echo(f"Removed {count} fault rule{'s' if count != 1 else ''} of tenant '{tenant_id}'.")
