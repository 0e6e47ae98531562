"""What the sandbox publishes about itself: ``schema`` (JSON Schemas) and ``config`` (every setting)."""

from __future__ import annotations

import json

import click

from simulator.cli.common import echo_json, json_flag
from simulator.config import describe_settings


@click.group()
def schema() -> None:
    """Print the JSON Schemas the sandbox publishes (for editors and validators)."""


@schema.command("settings")
def schema_settings() -> None:
    """The tenant settings document (also at GET /api/schema/settings)."""
    from simulator.core.settings import settings_schema

    click.echo(json.dumps(settings_schema(), indent=2))


@click.command("config")
@json_flag
def show_config(as_json: bool) -> None:
    """List every setting, its environment variable and its default."""
    settings = describe_settings()
    if as_json:
        echo_json(
            {
                "settings": [
                    {"variable": env_name, "default": default or None, "description": description}
                    for env_name, default, description in settings
                ]
            }
        )
        return
    for env_name, default, description in settings:
        click.echo(f"{env_name:<34} {default or '(unset)':<12} {description}")
