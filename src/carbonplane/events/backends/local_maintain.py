"""Retention and compaction of the embedded event log, as Kafka's log cleaner does them.

Retention (``cleanup.policy`` contains ``delete``, ``retention.ms`` >= 0): from the start of each
partition, whole batches whose newest record is older than ``now - retention.ms`` are removed and
the low watermark moves past them, as Kafka removes whole segments whose largest timestamp has
expired. A batch holds what one commit appended to one partition (a few milliseconds of traffic), so
records live at most that much longer than their retention; offsets are never reused.

Compaction (``cleanup.policy`` contains ``compact``): of all records with the same key only the
newest (highest offset) stays; a tombstone (value None) stays until it is older than
``retention.ms`` (Kafka's ``delete.retention.ms`` role), then goes too. Kept records keep their
offsets, so a partition has gaps after compaction, as on Kafka; watermarks do not move.
A partition is compacted again only when records arrived since its last compaction or one of its
tombstones expired; retention looks at the first batch before taking the write lock.

Each partition is cleaned in its own write transaction (retention in chunks of
``RETENTION_CHUNK`` batches), so producers wait at most for one step.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from carbonplane.events.backends.local_records import decode_batch, encode_batch
from carbonplane.events.backends.local_store import TopicRow, load_topics, write_txn

RETENTION_CHUNK = 500


@dataclass(slots=True)
class MaintenanceReport:
    """What one ``maintain()`` pass removed."""

    expired: int = 0  # records removed by retention
    compacted: int = 0  # records removed by compaction (superseded values and old tombstones)


def maintain(conn: sqlite3.Connection, now_ms: int | None = None) -> MaintenanceReport:
    """Apply retention and compaction to every topic of the log."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    report = MaintenanceReport()
    for topic in load_topics(conn).values():
        for partition in range(topic.partitions):
            if "delete" in topic.cleanup_policy and topic.retention_ms >= 0:
                report.expired += expire(conn, topic, partition, now_ms - topic.retention_ms)
            if topic.compact:
                report.compacted += compact(conn, topic, partition, now_ms)
    with write_txn(conn):
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('last_maintenance_ms', ?)", (str(now_ms),)
        )
    return report


def last_maintenance_ms(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'last_maintenance_ms'").fetchone()
    return int(row[0]) if row else 0


def expire(conn: sqlite3.Connection, topic: TopicRow, partition: int, cutoff_ms: int) -> int:
    """Remove the leading batches whose newest record is older than ``cutoff_ms``."""
    first = conn.execute(
        "SELECT max_ts FROM batches WHERE topic_id = ? AND part = ? ORDER BY last_offset LIMIT 1",
        (topic.id, partition),
    ).fetchone()
    if first is None or first[0] >= cutoff_ms:
        return 0  # the common case, decided without taking the write lock
    removed = 0
    while True:
        with write_txn(conn):
            rows = conn.execute(
                "SELECT id, last_offset, max_ts, count FROM batches WHERE topic_id = ? AND part = "
                "? "
                "ORDER BY last_offset LIMIT ?",
                (topic.id, partition, RETENTION_CHUNK),
            ).fetchall()
            expired = []
            for row in rows:
                if row[2] >= cutoff_ms:
                    break
                expired.append(row)
            if not expired:
                return removed
            conn.executemany("DELETE FROM batches WHERE id = ?", [(r[0],) for r in expired])
            conn.execute(
                "UPDATE partitions SET low_offset = MAX(low_offset, ?) WHERE topic_id = ? AND part "
                "= ?",
                (expired[-1][1] + 1, topic.id, partition),
            )
            removed += sum(r[3] for r in expired)
        if len(expired) < len(rows) or len(rows) < RETENTION_CHUNK:
            return removed


def compact(conn: sqlite3.Connection, topic: TopicRow, partition: int, now_ms: int) -> int:
    """Keep only the newest record per key (and tombstones younger than retention.ms)."""
    tombstone_cutoff = now_ms - topic.retention_ms if topic.retention_ms >= 0 else None
    if not _needs_compaction(conn, topic, partition, tombstone_cutoff):
        return 0
    with write_txn(conn):
        batch_ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM batches WHERE topic_id = ? AND part = ? ORDER BY last_offset",
                (topic.id, partition),
            )
        ]
        newest: dict[bytes, int] = {}
        for batch_id in batch_ids:  # pass 1: the newest offset of every key
            for o, _ts, k, _v, _h in _payload(conn, batch_id):
                if k is not None:
                    newest[k] = o
        removed, oldest_tombstone = 0, None
        for batch_id in batch_ids:  # pass 2: rewrite the batches that lose records
            entries = _payload(conn, batch_id)
            kept = [
                e
                for e in entries
                if e[2] is None
                or (
                    newest[e[2]] == e[0]
                    and not (
                        e[3] is None and tombstone_cutoff is not None and e[1] < tombstone_cutoff
                    )
                )
            ]
            for e in kept:
                if e[3] is None and (oldest_tombstone is None or e[1] < oldest_tombstone):
                    oldest_tombstone = e[1]
            if len(kept) == len(entries):
                continue
            removed += len(entries) - len(kept)
            if kept:
                conn.execute(
                    "UPDATE batches SET base_offset = ?, last_offset = ?, max_ts = ?, count = ?, "
                    "payload = ? "
                    "WHERE id = ?",
                    (
                        kept[0][0],
                        kept[-1][0],
                        max(e[1] for e in kept),
                        len(kept),
                        encode_batch(kept),
                        batch_id,
                    ),
                )
            else:
                conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
        conn.execute(
            "UPDATE partitions SET compacted_to = next_offset, oldest_tombstone_ms = ? "
            "WHERE topic_id = ? AND part = ?",
            (oldest_tombstone, topic.id, partition),
        )
    return removed


def _needs_compaction(
    conn: sqlite3.Connection, topic: TopicRow, partition: int, tombstone_cutoff: int | None
) -> bool:
    """Records arrived since the last compaction, or a kept tombstone has expired since."""
    row = conn.execute(
        "SELECT next_offset, compacted_to, oldest_tombstone_ms FROM partitions "
        "WHERE topic_id = ? AND part = ?",
        (topic.id, partition),
    ).fetchone()
    if row is None:
        return False
    next_offset, compacted_to, oldest_tombstone = row
    if next_offset != compacted_to:
        return True
    return (
        oldest_tombstone is not None
        and tombstone_cutoff is not None
        and oldest_tombstone < tombstone_cutoff
    )


def _payload(conn: sqlite3.Connection, batch_id: int) -> list:
    return decode_batch(
        conn.execute("SELECT payload FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]
    )
