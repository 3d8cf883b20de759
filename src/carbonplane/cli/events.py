"""``carbonplane events``: read a topic (``tail``) and copy a window of it (``replay``).

``tail TOPIC`` follows new records from the end; ``--from-beginning`` prints the history (partitions
interleaved by timestamp) and stops at the end unless ``--follow``; ``--limit N`` stops after N.
``replay`` copies a time or offset window to another topic or a JSON-lines file, or loads such a
file back into a topic, and prints what it copied per partition.

JSON shapes (``--json``):
  tail:   one object per line: {"topic", "partition", "offset", "key", "headers", "value"}
          (+ "decodeError" when the value is not JSON); see ``events.tools.record_json``
  replay: {"source", "target", "copied", "partitions": [{"partition", "count", "firstOffset",
          "lastOffset"}], "targetPartitions": {partition: count}}
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from carbonplane.cli.output import backends, console, note, print_json, print_json_line, print_line
from carbonplane.errors import ConfigError
from carbonplane.events.replay import (
    ReplaySummary,
    ReplayWindow,
    replay_from_file,
    replay_to_file,
    replay_to_topic,
)
from carbonplane.events.tools import TailOptions, parse_time, record_json, record_line, tail

app = typer.Typer(help="Read and replay the records of a topic.", no_args_is_help=True)


@app.command("tail")
def tail_command(
    ctx: typer.Context,
    topic: str = typer.Argument(..., help="The topic to read, e.g. data-ingestion."),
    from_beginning: bool = typer.Option(
        False,
        "--from-beginning",
        help="Start at the oldest record (then stop at the end unless --follow).",
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1, help="Stop after this many records."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    follow: bool | None = typer.Option(
        None,
        "--follow/--no-follow",
        help="Wait for new records. Default: follow unless --from-beginning.",
    ),
    partition: int | None = typer.Option(
        None, "--partition", "-p", min=0, help="Read only this partition."
    ),
) -> None:
    """Print a topic's records: new ones as they arrive, or its history with --from-beginning."""
    options = TailOptions(
        from_beginning=from_beginning, limit=limit, follow=follow, partition=partition
    )
    following = (not from_beginning) if follow is None else follow
    if following and sys.stderr.isatty():
        note(f"following {topic}{'' if partition is None else f'[{partition}]'}; Ctrl-C to stop")
    with backends(ctx).reader() as reader:
        for record in tail(reader, topic, options):
            if as_json:
                print_json_line(record_json(record), flush=following)
            else:
                print_line(record_line(record), flush=following)


@app.command("replay")
def replay_command(
    ctx: typer.Context,
    topic: str | None = typer.Argument(None, help="The topic to copy from (not with --from-file)."),
    from_time: str | None = typer.Option(
        None, "--from-time", help="Start time: RFC 3339, epoch ms, or relative (-1h)."
    ),
    from_offset: int | None = typer.Option(
        None, "--from-offset", min=0, help="Start offset, in every selected partition."
    ),
    to_time: str | None = typer.Option(
        None, "--to-time", help="End time, exclusive (default: the end of the topic)."
    ),
    to_offset: int | None = typer.Option(None, "--to-offset", min=0, help="End offset, exclusive."),
    partition: int | None = typer.Option(
        None, "--partition", "-p", min=0, help="Copy only this partition."
    ),
    to_topic: str | None = typer.Option(
        None, "--to-topic", help="Copy into this existing topic (partitioned by key)."
    ),
    to_file: Path | None = typer.Option(
        None, "--to-file", help="Write JSON lines (the objects of tail --json) here."
    ),
    from_file: Path | None = typer.Option(
        None, "--from-file", help="Load a JSON-lines replay file into --to-topic."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    timeout: float = typer.Option(
        60.0, "--timeout", min=0.1, help="Seconds to wait for the target to acknowledge everything."
    ),
) -> None:
    """Copy a time or offset window of a topic to another topic or a file, or load a file back."""
    window: ReplayWindow | None = None
    if from_file is not None:
        _only_file_options(topic, from_time, from_offset, to_time, to_offset, partition, to_file)
        if to_topic is None:
            raise ConfigError(
                "--from-file needs --to-topic (the topic to load the records into)",
                where="--to-topic",
            )
    else:
        window = _window(
            topic, from_time, from_offset, to_time, to_offset, partition, to_topic, to_file
        )
    with backends(ctx).reader() as reader:
        if window is None:
            with backends(ctx).producer("carbonplane-replay") as producer:
                summary = replay_from_file(
                    from_file, producer, to_topic, reader=reader, timeout_s=timeout
                )  # type: ignore[arg-type]
        elif to_file is not None:
            summary = replay_to_file(reader, topic, window, to_file)  # type: ignore[arg-type]
        else:
            with backends(ctx).producer("carbonplane-replay") as producer:
                summary = replay_to_topic(
                    reader, producer, topic, window, to_topic, timeout_s=timeout
                )  # type: ignore[arg-type]
    _print_summary(summary, as_json)


def _only_file_options(
    topic: str | None,
    from_time: str | None,
    from_offset: int | None,
    to_time: str | None,
    to_offset: int | None,
    partition: int | None,
    to_file: Path | None,
) -> None:
    given = {
        "TOPIC": topic,
        "--from-time": from_time,
        "--from-offset": from_offset,
        "--to-time": to_time,
        "--to-offset": to_offset,
        "--partition": partition,
        "--to-file": to_file,
    }
    extra = [name for name, value in given.items() if value is not None]
    if extra:
        raise ConfigError(
            f"{', '.join(extra)} cannot be used with --from-file (a file is loaded whole into "
            "--to-topic)",
            where="--from-file",
        )


def _window(
    topic: str | None,
    from_time: str | None,
    from_offset: int | None,
    to_time: str | None,
    to_offset: int | None,
    partition: int | None,
    to_topic: str | None,
    to_file: Path | None,
) -> ReplayWindow:
    if topic is None:
        raise ConfigError(
            "name the topic to replay (carbonplane events replay TOPIC --from-time -1h --to-file "
            "out.jsonl)",
            where="TOPIC",
        )
    if (to_topic is None) == (to_file is None):
        raise ConfigError(
            "give exactly one target: --to-topic T or --to-file F.jsonl", where="replay"
        )
    window = ReplayWindow(
        from_time_ms=None if from_time is None else parse_time(from_time, where="--from-time"),
        from_offset=from_offset,
        to_time_ms=None if to_time is None else parse_time(to_time, where="--to-time"),
        to_offset=to_offset,
        partition=partition,
    )
    window.check()
    return window


def _print_summary(summary: ReplaySummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_json())
        return
    out = console()
    table = Table(
        "source partition",
        "records",
        "first offset",
        "last offset",
        title=f"replay {summary.source} -> {summary.target}",
    )
    for c in sorted(summary.partitions.values(), key=lambda c: c.partition):
        table.add_row(str(c.partition), str(c.count), _opt(c.first_offset), _opt(c.last_offset))
    if summary.partitions:
        out.print(table)
    spread = ", ".join(f"{p}: {n}" for p, n in sorted(summary.target_partitions.items()))
    typer.echo(
        f"copied {summary.total} records from {summary.source} to {summary.target}"
        + (f" (target partitions {spread})" if spread else "")
    )


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)
