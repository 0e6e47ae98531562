"""``python -m conformance.broken FLAW --idp-metadata-url URL [--port 8080] [--allow-unsolicited]``.

Serves one SP on 127.0.0.1 in the foreground until interrupted, after printing its URLs.
"""

from __future__ import annotations

import click

from conformance.broken import FLAWS
from conformance.broken.server import base_url_of, bind_sp


@click.command()
@click.argument("flaw", type=click.Choice(list(FLAWS)), metavar="FLAW")
@click.option("--idp-metadata-url", required=True, help="Where the IdP publishes its SAML metadata.")
@click.option("--port", default=8080, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--allow-unsolicited", is_flag=True, help="Accept responses that answer no AuthnRequest.")
def main(flaw: str, idp_metadata_url: str, port: int, allow_unsolicited: bool) -> None:
    """Serve the SAML SP with FLAW ("none": the correct one) until Ctrl-C."""
    server = bind_sp(flaw, idp_metadata_url, port, allow_unsolicited)
    base_url = base_url_of(server)
    click.echo(f"SP with flaw {flaw!r}")
    click.echo(f"  metadata: {base_url}/metadata")
    click.echo(f"  login:    {base_url}/login?return_to=/whoami")
    click.echo(f"  probe:    {base_url}/whoami  (who is signed in; health: {base_url}/healthz)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
