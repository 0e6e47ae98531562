"""``sandbox tls``: the local certificate authority that ``sandbox up --tls`` serves HTTPS with."""

from __future__ import annotations

import click

from simulator.cli.common import load_settings
from simulator.core import tls as sandbox_tls


@click.group("tls")
def tls() -> None:
    """The local CA of ``sandbox up --tls``: give its certificate to whatever must trust the sandbox."""


@tls.command("ca")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./.sandbox).")
@click.option("--path", "path_only", is_flag=True, help="Print only the CA certificate's path.")
@click.pass_context
def ca(ctx: click.Context, path_only: bool, **flags: str | None) -> None:
    """Print the CA certificate (PEM) on stdout and its path on stderr; both are made on first use.

    \b
    curl --cacert "$(sandbox tls ca --path)" https://127.0.0.1:8000/healthz
    sandbox tls ca > sandbox-ca.pem   # for a connector, a browser or another machine
    """
    files = sandbox_tls.ensure_certificates(load_settings(ctx, **flags))
    if path_only:
        click.echo(str(files.ca))
        return
    click.echo(f"CA certificate: {files.ca}", err=True)
    click.echo(files.ca.read_text(), nl=False)
