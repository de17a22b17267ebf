"""`monitor config`: show the effective configuration."""

from __future__ import annotations

import click

from monitor.cli.context import print_json
from monitor.config import load_settings


@click.command()
@click.option("--dump", is_flag=True, required=True, help="Print every setting.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def config(dump: bool, as_json: bool) -> None:
    """Print the effective settings, secrets hidden."""
    shown = load_settings().redacted()
    if as_json:
        print_json(shown)
        return
    for name, value in shown.items():
        if value is None:
            value = ""
        elif isinstance(value, tuple | list):
            value = ",".join(value)
        click.echo(f"MONITOR_{name.upper()}={value}")
