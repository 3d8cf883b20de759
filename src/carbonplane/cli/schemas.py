"""``carbonplane schemas``: generate or check the JSON Schema and Avro files of the 12
event types."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonplane.cli.output import print_json
from carbonplane.events.schemas import stale_schemas, write_schemas

app = typer.Typer(
    help="Generate or check the event schemas (JSON Schema and Avro).", no_args_is_help=True
)

ROOT = typer.Option(Path("schemas"), "--root", help="The schemas folder.")


@app.command("generate")
def generate(root: Path = ROOT, as_json: bool = typer.Option(False, "--json")) -> None:
    """Write the schemas from the typed events (only files that changed)."""
    written = [str(p) for p in write_schemas(root)]
    if as_json:
        print_json({"root": str(root), "written": written})
    else:
        typer.echo(
            f"{len(written)} schema files written under {root}"
            if written
            else f"{root} is up to date"
        )


@app.command("check")
def check(root: Path = ROOT, as_json: bool = typer.Option(False, "--json")) -> None:
    """Exit 1 when a schema file is stale, missing or extra."""
    stale = stale_schemas(root)
    if as_json:
        print_json({"root": str(root), "stale": stale})
    else:
        for name in stale:
            typer.echo(f"stale: {name}")
        typer.echo("schemas are current" if not stale else "run `make schemas` to regenerate")
    if stale:
        raise typer.Exit(1)
