"""`monitor tokens create|list|revoke`: API tokens with roles (see monitor.api.auth)."""

from __future__ import annotations

import click

from monitor import queries
from monitor.cli.context import get_app, print_json, print_table
from monitor.commands.tokens import ROLES, issue_token, revoke_token


@click.group()
def tokens() -> None:
    """Bearer tokens for the HTTP API: viewer, analyst or admin."""


@tokens.command("create")
@click.option("--name", required=True, help="Who or what holds it (a-z, 0-9, '.', '_', '-').")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What it may do.")
@click.pass_context
def create(ctx: click.Context, name: str, role: str) -> None:
    """Issue a token; prints it once (only its sha256 is kept)."""
    app = get_app(ctx)
    issued = issue_token(app, name, role)
    app.catch_up()
    click.echo(issued.token)
    click.echo("Keep this token: it is not shown again.", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Tokens by name with role, issue and revocation (never the tokens themselves)."""
    app = get_app(ctx)
    app.catch_up()
    listed = queries.list_tokens(app.engine)
    if as_json:
        print_json(listed)
        return
    print_table(
        ["NAME", "ROLE", "ISSUED", "BY", "REVOKED"],
        [
            [r["name"], r["role"], r["issued_at"], r["issued_by"], r["revoked_at"] or ""]
            for r in listed
        ],
    )


@tokens.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Stop a token from working (a running service follows once its read models catch up)."""
    app = get_app(ctx)
    revoke_token(app, name)
    app.catch_up()
