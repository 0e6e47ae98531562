"""``sandbox secrets``: the key that encrypts the secrets stored in the database, and its rotation."""

from __future__ import annotations

import click

from simulator.cli.common import db_flags, load_settings, open_database
from simulator.core import secrets_at_rest


@click.group("secrets")
def secrets() -> None:
    """The key that encrypts the private keys, API keys and shared secrets kept in the database.

    It is SANDBOX_SECRET_KEY, else the file data_dir/secret_key made on the first start; several keys,
    comma-separated, newest first, during a rotation.
    """


@secrets.command("rotate")
@db_flags
@click.pass_context
def rotate(ctx: click.Context, **flags: str | None) -> None:
    """Re-encrypt every stored secret with the newest key, in one transaction.

    Stop the sandbox first (or give every process both keys), then:

    \b
    export SANDBOX_SECRET_KEY="$(sandbox secrets generate-key),$OLD_KEY"   # the new key first
    sandbox secrets rotate
    export SANDBOX_SECRET_KEY="${SANDBOX_SECRET_KEY%%,*}"                 # the old key may go now
    """
    import simulator.models  # noqa: F401 - every table with an encrypted column

    config = load_settings(ctx, **flags)
    db = open_database(config)
    try:
        rotation = secrets_at_rest.rotate_secrets(db)
    finally:
        db.dispose()
    click.echo(rotation.sentence(secrets_at_rest.installed_keyring()))


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new random key, for SANDBOX_SECRET_KEY or data_dir/secret_key."""
    click.echo(secrets_at_rest.generate_key())
