"""The embedded event log's records: how a batch row is encoded, written and read, and the
consumer-group offsets. The file, its schema and its topics are ``local_store.py``.

A ``batches`` row holds the records one transaction appended to one partition, as a msgpack array
of ``[offset, timestamp_ms, key, value, headers]`` (Kafka's record batch, for the same reason: the
B-tree and page costs are paid once per batch instead of once per record). docs/local-log.md has the
measurements behind this layout.

Invariants (with ``local_store``'s):
- a batch row holds at most ``BATCH_RECORDS`` records and, unless one record alone is larger,
  ``MAX_BATCH_BYTES``; no record value is larger than ``MAX_RECORD_BYTES``;
- ``insert_batches`` runs inside ``local_store.write_txn``, which also advances ``next_offset``;
- a read returns records in offset order, from ``offset`` on, at most ``max_records``, from one
  read snapshot.
"""

from __future__ import annotations

import sqlite3
import time

import msgspec

from carbonplane.events.backends.base import Headers, Record
from carbonplane.events.backends.local_store import TopicRow, watermarks, write_txn

BATCH_RECORDS = 2_000  # records per batch row; bounds what one read decodes
MAX_BATCH_BYTES = (
    16 << 20
)  # a batch row larger than this is split (a lone larger record is kept whole)
MAX_RECORD_BYTES = 64 << 20  # produce() refuses larger values

Entry = tuple[
    int, int, bytes | None, bytes | None, Headers | None
]  # offset, ts, key, value, headers
_encode = msgspec.msgpack.Encoder().encode
_decode_typed = msgspec.msgpack.Decoder(
    list[tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]]
).decode
_decode_any = msgspec.msgpack.Decoder().decode


def encode_batch(entries: list[Entry]) -> bytes:
    return _encode(entries)


def decode_batch(payload: bytes) -> list[Entry]:
    try:
        return _decode_typed(payload)  # type: ignore[return-value]
    except msgspec.ValidationError:  # headers given as str / dict: normalise on the slow path
        return [(o, ts, k, v, _normalise_headers(h)) for o, ts, k, v, h in _decode_any(payload)]


def _normalise_headers(headers: object) -> Headers | None:
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v.encode() if isinstance(v, str) else v) for k, v in pairs]  # type: ignore[union-attr]


def insert_batches(
    conn: sqlite3.Connection,
    rows: list[tuple[int, int, int, int, int, int, bytes]],
    advanced: list[tuple[int, int, int]],
) -> None:
    """Store batch rows ``(topic_id, part, base, last, max_ts, count, payload)`` and move each
    ``(next_offset, topic_id, part)`` forward; call inside ``write_txn``."""
    conn.executemany(
        "INSERT INTO batches (topic_id, part, base_offset, last_offset, max_ts, count, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND part = ?", advanced
    )


class LastBatch:
    """The most recently decoded batch of one reader: a consumer reading ``max_records`` at a time
    usually needs the same batch again for its next read."""

    __slots__ = ("key", "entries")

    def __init__(self) -> None:
        self.key: tuple[int, ...] | None = None
        self.entries: list[Entry] = []

    def entries_of(self, conn: sqlite3.Connection, key: tuple[int, ...]) -> list[Entry]:
        if key != self.key:  # key: (batch id, topic id, partition, last offset, count)
            payload = conn.execute(
                "SELECT payload FROM batches WHERE id = ?", (key[0],)
            ).fetchone()[0]
            self.key, self.entries = key, decode_batch(payload)
        return self.entries


def read_records(
    conn: sqlite3.Connection,
    topic: TopicRow,
    partition: int,
    offset: int,
    max_records: int,
    last: LastBatch,
) -> list[Record]:
    out: list[Record] = []
    name = topic.name
    cur = conn.execute(
        "SELECT id, last_offset, count FROM batches "
        "WHERE topic_id = ? AND part = ? AND last_offset >= ? ORDER BY last_offset",
        (topic.id, partition, offset),
    )
    try:
        for batch_id, last_offset, count in cur:
            entries = last.entries_of(conn, (batch_id, topic.id, partition, last_offset, count))
            if entries[0][0] < offset:  # only the first batch can start before ``offset``
                entries = [e for e in entries if e[0] >= offset]
            out += [
                Record(name, partition, o, ts, k, v, h or [])
                for o, ts, k, v, h in entries[: max_records - len(out)]
            ]
            if len(out) >= max_records:
                break
    finally:
        cur.close()  # ends the statement, and with it the read snapshot
    return out


def offset_for_time(
    conn: sqlite3.Connection, topic: TopicRow, partition: int, timestamp_ms: int
) -> int:
    row = conn.execute(
        "SELECT payload FROM batches WHERE topic_id = ? AND part = ? AND max_ts >= ? "
        "ORDER BY last_offset LIMIT 1",
        (topic.id, partition, timestamp_ms),
    ).fetchone()
    if row is not None:
        for o, ts, _k, _v, _h in decode_batch(row[0]):
            if ts >= timestamp_ms:
                return o
    return watermarks(conn, topic.id, partition)[1]


# -- consumer groups ------------------------------------------------------------------------------


def commit_offset(
    conn: sqlite3.Connection, group: str, topic_id: int, partition: int, offset: int
) -> None:
    with write_txn(conn):
        conn.execute(
            "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?, ?)",
            (group, topic_id, partition, offset, time.time_ns() // 1_000_000),
        )


def committed_offset(
    conn: sqlite3.Connection, group: str, topic_id: int, partition: int
) -> int | None:
    row = conn.execute(
        "SELECT next_offset FROM group_offsets WHERE group_id = ? AND topic_id = ? AND part = ?",
        (group, topic_id, partition),
    ).fetchone()
    return row[0] if row else None
