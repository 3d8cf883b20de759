"""The ``carbonplane`` command: one Typer app, one command group per area, errors handled here.

The CLI is a thin shell over the library: each command parses its options, calls one library
function, prints (rich tables for people, ``--json`` for machines) and sets the exit code.

Adding commands (the only place that lists them is the bottom of this module):
- a group: write ``carbonplane/cli/<area>.py`` with ``app = typer.Typer(help=...,
  no_args_is_help=True)`` and its ``@app.command()`` functions, then add
  ``register_group(<area>.app, "<area>")`` below;
- a top-level command: ``register_command(function, "name")`` below (or ``@app.command()``).
Both helpers may also be called by an embedding program before ``app()`` runs.

Exit codes: 0 success; 1 a carbonplane error (backend, delivery, unknown topic ...); 2 bad usage or
configuration (``ConfigError``, or an option Click rejects); 130 interrupted (Ctrl-C). An expected
error prints one line, ``error: <what, where, how to fix>``, on stderr and never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

from carbonplane import __version__
from carbonplane.cli import audit, demo, events, gateway, mesh, schemas, topics
from carbonplane.errors import CarbonplaneError, ConfigError


class CarbonplaneGroup(TyperGroup):
    """The root group: turns every ``CarbonplaneError`` raised below it into one line and an exit
    code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CarbonplaneError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None


app = typer.Typer(
    cls=CarbonplaneGroup,
    name="carbonplane",
    help=(
        "carbonplane: typed platform events on an embedded log or Apache Kafka, "
        "and the tools around them."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"carbonplane {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_show_version,
        is_eager=True,
    ),
) -> None:
    """Backend: the embedded log under $CARBONPLANE_HOME (default ~/.carbonplane), or Apache Kafka
    when KAFKA_BOOTSTRAP_SERVERS is set."""


def register_group(group: typer.Typer, name: str, *, help: str | None = None) -> None:
    """Mount a command group (``carbonplane <name> ...``)."""
    if help is None:
        app.add_typer(group, name=name)  # the group's own help
    else:
        app.add_typer(group, name=name, help=help)


def register_command(function: Callable[..., Any], name: str) -> None:
    """Add a top-level command (``carbonplane <name>``)."""
    app.command(name)(function)


# -- the commands -------------------------------------------------------------------------------
register_group(topics.app, "topics")
register_group(events.app, "events")
register_group(audit.app, "audit")
register_group(schemas.app, "schemas")
register_group(gateway.app, "gateway")
register_group(mesh.app, "mesh")
register_command(demo.demo, "demo")
