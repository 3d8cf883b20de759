"""``carbonplane audit search``: who did what, when, across the four ``audit-*`` topics.

Filters (all optional, combined with AND): ``--user`` (userId, username or adminUser),
``--service`` (service or source), ``--since``/``--until`` (record time, ``[since, until)``),
``--topic`` (one audit topic). Results are sorted by time; ``--limit N`` keeps the newest N.

JSON shape (``--json``): one object per line, the same as ``events tail --json``: {"topic",
"partition", "offset", "key", "headers", "value"}, so the output can be loaded into a topic with
``events replay --from-file``.
"""

from __future__ import annotations

import typer
from rich.table import Table

from carbonplane.cli.output import backends, console, print_json_line
from carbonplane.events.audit import AUDIT_TOPICS, AuditQuery, audit_search
from carbonplane.events.envelope import rfc3339_ms
from carbonplane.events.tools import parse_time, record_json

app = typer.Typer(help="Search the audit topics.", no_args_is_help=True)


@app.command("search")
def search(
    ctx: typer.Context,
    user: str | None = typer.Option(
        None, "--user", "-u", help="userId, username or adminUser (case-insensitive)."
    ),
    service: str | None = typer.Option(
        None, "--service", "-s", help="The API's service or the producing source."
    ),
    since: str | None = typer.Option(
        None, "--since", help="From this time: RFC 3339, epoch ms, or relative (-24h)."
    ),
    until: str | None = typer.Option(None, "--until", help="Before this time (exclusive)."),
    topic: str | None = typer.Option(
        None, "--topic", "-t", help="One of: " + ", ".join(AUDIT_TOPICS) + "."
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1, help="Keep only the newest N matches."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line (the tail --json objects)."
    ),
) -> None:
    """Find audit records by user, service and time, oldest first."""
    query = AuditQuery(
        user=user,
        service=service,
        since_ms=None if since is None else parse_time(since, where="--since"),
        until_ms=None if until is None else parse_time(until, where="--until"),
        topics=AUDIT_TOPICS if topic is None else (topic,),
        limit=limit,
    )
    with backends(ctx).reader() as reader:
        hits = audit_search(reader, query)
    if as_json:
        for hit in hits:
            print_json_line(record_json(hit.record))
        return
    table = Table(
        "time", "topic", "user", "service", "action", "target", "result", title="audit search"
    )
    for hit in hits:
        table.add_row(
            rfc3339_ms(hit.record.timestamp_ms),
            hit.record.topic,
            hit.user,
            hit.service,
            hit.action,
            hit.target,
            hit.result,
        )
    out = console()
    out.print(table)
    out.print(f"{len(hits)} match{'' if len(hits) == 1 else 'es'}")
