"""The ``sandbox`` command: the ``main`` group, with one module per command family.

To add a command family, write it as a standalone click group or command in its own module here and
register it below with ``main.add_command`` (import the module, not the command, so
``simulator.cli.NAME`` stays the module); shared helpers live in ``simulator.cli.common``.
"""

from __future__ import annotations

import click

from conformance import cli as certify_cli
from loadtests import cli as loadtest_cli
from simulator import __version__
from simulator.cli import faults, journal, outbox, reference, servers, stored_secrets, tenants, tls
from simulator.cli.common import SandboxGroup
from simulator.scenario import cli as scenario_cli


@click.group(cls=SandboxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sandbox")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="SANDBOX_CONFIG",
    help="TOML settings file.",
)
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """AMS–LMS Integration Sandbox: a fake AMS and LMS joined by real SSO, eCommerce and writeback.

    Settings come from flags, SANDBOX_* environment variables or a TOML file (see README).
    """
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file


for command in (
    servers.up,
    servers.serve,
    servers.worker,
    servers.migrate,
    tenants.seed,
    tenants.tenant,
    outbox.outbox,
    faults.faults,
    journal.journal,
    reference.schema,
    reference.show_config,
    tls.tls,
    stored_secrets.secrets,
    scenario_cli.scenario,
    certify_cli.certify,
    loadtest_cli.loadtest,
):
    main.add_command(command)

__all__ = ["main"]
