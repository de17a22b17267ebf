"""Command groups whose implementation lands with a later issue; they say so clearly."""

from __future__ import annotations

from typing import Any

import click

from monitor.errors import NotAvailableYetError

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def _placeholder(name: str, summary: str, arrives_with: str) -> click.Command:
    @click.command(name, context_settings=_PASS_THROUGH, help=f"{summary} (not available yet)")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: Any) -> None:
        raise NotAvailableYetError(
            f"'monitor {name}' is not available yet: it arrives with {arrives_with}"
        )

    return command


subscriptions = _placeholder("subscriptions", "Manage subscriptions.", "delivery")
digest = _placeholder("digest", "Send digests that are due.", "delivery")
deliveries = _placeholder("deliveries", "Delivery attempts and dead letters.", "delivery")
