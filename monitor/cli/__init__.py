"""The `monitor` command line. Every command group of INTERFACE.md is registered here.

Errors end as one line on stderr and a non-zero exit; `--debug` (or MONITOR_DEBUG=1) shows
the traceback instead.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from monitor import __version__, logs
from monitor.cli import (
    database,
    delivery,
    events,
    feeds,
    ingest,
    models,
    replay,
    run,
    settings,
    tokens,
)
from monitor.errors import MonitorError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """monitor: polls news feeds, classifies articles and delivers what matches.

    Configuration comes from MONITOR_* environment variables or the TOML file named by
    MONITOR_CONFIG (see `monitor config --dump`).
    """
    logs.configure_for_cli(debug=debug)


for command in (
    run.run,
    database.db,
    feeds.feeds,
    ingest.poll,
    ingest.articles,
    models.classify,
    delivery.subscriptions,
    delivery.digest,
    delivery.deliveries,
    models.label,
    models.model,
    replay.replay,
    events.events,
    settings.config,
    tokens.tokens,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and turn every failure into one line on stderr."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("MONITOR_DEBUG") == "1"
    try:
        cli.main(args=args, prog_name="monitor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"{exc.format_message()}{where}", EXIT_USAGE)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        _fail("interrupted", EXIT_INTERRUPTED)
    except MonitorError as exc:
        if debug:
            traceback.print_exc()
        _fail(str(exc), EXIT_ERROR)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)", 1)


def _fail(message: str, code: int) -> None:
    one_line = " ".join(message.split())
    print(f"monitor: error: {one_line}", file=sys.stderr)
    sys.exit(code)
