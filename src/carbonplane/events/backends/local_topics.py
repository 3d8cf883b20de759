"""Topics of the embedded event log: create and update them from ``TopicSpec``s, describe them.

Mirrors what ``carbonplane topics apply`` does on Kafka, so that the same command manages both:
applying is idempotent (a second run reports every topic ``unchanged``); partition counts only
grow (a smaller count is reported, never applied, as Kafka cannot shrink a topic); a dry run
reports the same changes and writes nothing. Topic names follow Kafka's rule
(``[A-Za-z0-9._-]``, at most 249 characters).

Settings kept per topic: partitions, ``retention.ms`` (-1 = keep forever), ``cleanup.policy``
(``delete``, ``compact`` or both) and ``compression.type`` (recorded for parity with Kafka; the
local log stores records uncompressed, see docs/local-log.md).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable

from carbonplane.errors import ConfigError
from carbonplane.events.backends.base import TopicChange, TopicState
from carbonplane.events.backends.local_store import TopicRow, load_topics, write_txn
from carbonplane.events.catalog import TopicSpec

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
CLEANUP_POLICIES = ("delete", "compact", "compact,delete", "delete,compact")
COMPRESSIONS = ("lz4", "zstd", "gzip", "snappy", "none", "uncompressed", "producer")


def validate_spec(spec: TopicSpec) -> None:
    where = f"topic {spec.name!r}"
    if not _TOPIC_NAME.match(spec.name):
        raise ConfigError(
            "a topic name is 1-249 characters of letters, digits, '.', '_' and '-'", where=where
        )
    if not isinstance(spec.partitions, int) or spec.partitions < 1:
        raise ConfigError(
            f"partitions must be an integer >= 1, not {spec.partitions!r}", where=where
        )
    if not isinstance(spec.retention_ms, int) or spec.retention_ms < -1:
        raise ConfigError(
            f"retention_ms must be an integer >= -1 (-1 keeps records forever), "
            f"not {spec.retention_ms!r}",
            where=where,
        )
    if spec.cleanup_policy not in CLEANUP_POLICIES:
        raise ConfigError(
            f"cleanup_policy must be one of {', '.join(CLEANUP_POLICIES)}, "
            f"not {spec.cleanup_policy!r}",
            where=where,
        )
    if spec.compression not in COMPRESSIONS:
        raise ConfigError(
            f"compression must be one of {', '.join(COMPRESSIONS)}, not {spec.compression!r}",
            where=where,
        )


def _settings(spec: TopicSpec) -> dict[str, str]:
    return {
        "partitions": str(spec.partitions),
        "retention.ms": str(spec.retention_ms),
        "cleanup.policy": spec.cleanup_policy,
        "compression.type": spec.compression,
    }


def _row_settings(row: TopicRow) -> dict[str, str]:
    return {
        "partitions": str(row.partitions),
        **{k: v for k, v in row.kafka_config().items() if k != "min.insync.replicas"},
    }


def _extra(spec: TopicSpec) -> str:
    return json.dumps(
        {"category": spec.category, "event_type": spec.event_type, "key_field": spec.key_field}
    )


def apply_specs(
    conn: sqlite3.Connection,
    specs: Iterable[TopicSpec],
    *,
    dry_run: bool = False,
    only_missing: bool = False,
) -> list[TopicChange]:
    """Create or update topics to match ``specs`` in one transaction (none when ``dry_run``).
    ``only_missing`` creates absent topics and leaves existing ones alone (first open)."""
    specs = list(specs)
    for spec in specs:
        validate_spec(spec)
    if dry_run:
        return _plan(load_topics(conn), specs, only_missing)
    with write_txn(conn):
        existing = load_topics(conn)
        changes = _plan(existing, specs, only_missing)
        by_name = {s.name: s for s in specs}
        for change in changes:
            if change.action != "unchanged":
                _write(conn, by_name[change.topic], existing.get(change.topic))
    return changes


def _plan(
    existing: dict[str, TopicRow], specs: list[TopicSpec], only_missing: bool
) -> list[TopicChange]:
    changes: list[TopicChange] = []
    for spec in specs:
        row = existing.get(spec.name)
        new = _settings(spec)
        if row is None:
            changes.append(
                TopicChange(spec.name, "created", {k: (None, v) for k, v in new.items()})
            )
            continue
        old = _row_settings(row)
        if only_missing:
            changes.append(TopicChange(spec.name, "unchanged"))
            continue
        details = {k: (old[k], v) for k, v in new.items() if old[k] != v}
        action = "updated" if details else "unchanged"
        if spec.partitions < row.partitions:
            details["partitions"] = (
                old["partitions"],
                f"{row.partitions} (asked {spec.partitions}: partitions never shrink)",
            )
            action = "updated" if len(details) > 1 else "unchanged"
        changes.append(TopicChange(spec.name, action, details))
    return changes


def _write(conn: sqlite3.Connection, spec: TopicSpec, row: TopicRow | None) -> None:
    if row is None:
        cur = conn.execute(
            "INSERT INTO topics (name, partitions, retention_ms, cleanup_policy, compression, "
            "config) VALUES (?, ?, ?, ?, ?, ?)",
            (
                spec.name,
                spec.partitions,
                spec.retention_ms,
                spec.cleanup_policy,
                spec.compression,
                _extra(spec),
            ),
        )
        topic_id, first_new = cur.lastrowid, 0
    else:
        topic_id, first_new = row.id, row.partitions
    partitions = max(spec.partitions, first_new)
    conn.execute(
        "UPDATE topics SET partitions = ?, retention_ms = ?, cleanup_policy = ?, compression = ?, "
        "config = ? WHERE id = ?",
        (
            partitions,
            spec.retention_ms,
            spec.cleanup_policy,
            spec.compression,
            _extra(spec),
            topic_id,
        ),
    )
    conn.executemany(
        "INSERT INTO partitions (topic_id, part) VALUES (?, ?)",
        [(topic_id, p) for p in range(first_new, partitions)],
    )


def describe(conn: sqlite3.Connection) -> dict[str, TopicState]:
    return {
        name: TopicState(name, row.partitions, 1, row.kafka_config())
        for name, row in load_topics(conn).items()
    }
