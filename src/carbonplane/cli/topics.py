"""``carbonplane topics``: provision the 12 catalog topics and compare them with what is live.

``apply`` creates missing topics and updates drifted settings (idempotent: a second run changes
nothing); ``--dry-run`` reports what it would do. ``list`` shows each catalog topic's live settings
beside the catalog's, flags drift and missing topics, and lists live topics outside the catalog.

JSON shapes (``--json``):
  apply: {"dryRun": bool, "topics": [{"topic", "action": created|updated|unchanged,
          "changes": {setting: {"old": str|null, "new": str}}}]}
  list:  [{"topic", "status": ok|drift|missing|extra, "drift": [setting], "replicationFactor",
          "catalog": {setting: str}|null, "live": {setting: str}|null}]
"""

from __future__ import annotations

from collections import Counter

import typer
from rich.table import Table
from rich.text import Text

from carbonplane.cli.output import backends, console, human_ms, print_json
from carbonplane.events.backends.base import TopicChange
from carbonplane.events.catalog import TOPICS
from carbonplane.events.tools import SETTINGS, TopicRow, topic_report

app = typer.Typer(help="Create, update and inspect the catalog's topics.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON for machines instead of a table.")


@app.command("apply")
def apply(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would change; change nothing."
    ),
    as_json: bool = JSON,
) -> None:
    """Create or update the 12 catalog topics; print what changed."""
    with backends(ctx).admin() as admin:
        changes = admin.apply_topics(TOPICS, dry_run=dry_run)
    if as_json:
        print_json({"dryRun": dry_run, "topics": [_change_json(c) for c in changes]})
        return
    out = console()
    table = Table(
        "topic",
        "action",
        "changes",
        title="topics apply" + (" (dry run: nothing changed)" if dry_run else ""),
    )
    for c in changes:
        style = {"created": "green", "updated": "yellow"}.get(c.action, "dim")
        table.add_row(c.topic, Text(c.action, style=style), _details_text(c))
    out.print(table)
    counts = Counter(c.action for c in changes)
    verb = "would be " if dry_run else ""
    summary = ", ".join(f"{counts[a]} {verb}{a}" for a in ("created", "updated", "unchanged"))
    out.print(f"{len(changes)} topics: {summary}")


def _change_json(c: TopicChange) -> dict:
    return {
        "topic": c.topic,
        "action": c.action,
        "changes": {k: {"old": old, "new": new} for k, (old, new) in c.details.items()},
    }


def _details_text(c: TopicChange) -> str:
    if c.action == "created":
        return ", ".join(f"{k}={_show(k, new)}" for k, (_old, new) in c.details.items())
    return ", ".join(
        f"{k} {_show(k, old)} -> {_show(k, new)}" for k, (old, new) in c.details.items()
    )


def _show(setting: str, value: str | None) -> str:
    if value is None:
        return "-"
    return human_ms(value) if setting.endswith(".ms") else value


@app.command("list")
def list_topics(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Each catalog topic's live settings beside the catalog's, then topics outside the catalog."""
    with backends(ctx).admin() as admin:
        rows = topic_report(admin)
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    table = Table(
        "topic",
        *SETTINGS,
        "rf",
        "status",
        title="topics (live; 'live != catalog' where they differ)",
    )
    for row in rows:
        table.add_row(
            row.name,
            *(_cell(row, s) for s in SETTINGS),
            str(row.replication_factor or "-"),
            _status(row),
        )
    out = console()
    out.print(table)
    counts = Counter(row.status for row in rows)
    out.print(
        ", ".join(f"{counts[s]} {s}" for s in ("ok", "drift", "missing", "extra") if counts[s])
    )


def _cell(row: TopicRow, setting: str) -> Text:
    if row.live is None:  # missing: show what the catalog wants, dimmed
        return Text(_show(setting, (row.catalog or {}).get(setting)), style="dim")
    have = _show(setting, row.live.get(setting) or None)
    if setting in row.drift:
        return Text(
            f"{have} != {_show(setting, (row.catalog or {}).get(setting))}", style="bold red"
        )
    return Text(have)


def _status(row: TopicRow) -> Text:
    style = {"ok": "green", "drift": "bold red", "missing": "bold red", "extra": "cyan"}[row.status]
    label = {"extra": "not in catalog"}.get(row.status, row.status)
    return Text(label, style=style)
