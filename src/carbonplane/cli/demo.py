"""``carbonplane demo``: the event tour (``make run``). Prints only what it read back
or measured."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from carbonplane.cli.output import console, print_json
from carbonplane.demo import run_demo


def demo(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Produce one event of each of the 12 types, read every one back, and show what happened."""
    report = run_demo()
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    out = console()
    out.print(
        f"[bold]carbonplane event demo[/] on the [bold]{report.backend}[/] backend ({report.where})"
    )
    table = Table("event type", "topic", "partition", "offset", "key", "ce_type", "read back equal")
    for row in report.rows:
        table.add_row(
            row.event_type,
            row.topic,
            str(row.partition),
            str(row.offset),
            row.key,
            row.ce_type,
            "yes" if row.round_trip_equal else "[red]NO[/]",
        )
    out.print(table)
    out.print(f"invalid event refused before sending: {report.rejected}")
    out.print(f"producer stats: {report.stats}")
    out.print(
        f"{len(report.rows)} events produced, acknowledged and read back in {report.seconds:.2f} s"
    )
    if not all(r.round_trip_equal for r in report.rows):
        raise typer.Exit(1)
