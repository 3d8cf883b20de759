"""The reading and administering side of the embedded log: ``LogAdmin`` and ``LogReader`` for
``LocalLog`` (``backends/local.py``).

``LocalAccess`` is a base class of ``LocalLog``: it owns nothing, and uses the log's reading
connection (``_conn``, guarded by ``_lock``), its path, its produce routes (cleared when topics
change) and its append queue (whose ``progress`` condition the writer notifies on each commit).

Invariants:
- Every call goes through ``_db()``: one thread at a time on the connection; after ``close`` a
  ``LogError`` naming the file; a corrupt file raises ``LogCorruptionError`` naming it, any other
  SQLite error a ``LogError`` naming it.
- A topic or partition that does not exist raises ``UnknownTopicError`` (``local_store``).
- ``read`` waits up to ``timeout`` for records committed by this process (woken by its writer) or
  by any other process (``PRAGMA data_version``, polled every ``READ_POLL_S``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from carbonplane.errors import LogError
from carbonplane.events.backends import local_records
from carbonplane.events.backends import local_store as store
from carbonplane.events.backends.base import LogAdmin, LogReader, Record, TopicChange, TopicState
from carbonplane.events.backends.local_maintain import MaintenanceReport, maintain
from carbonplane.events.backends.local_topics import apply_specs, describe
from carbonplane.events.backends.local_writer import AppendQueue
from carbonplane.events.catalog import TopicSpec

READ_POLL_S = 0.005  # how often a waiting read() looks for commits of other processes


class LocalAccess(LogAdmin, LogReader):
    """Topics, maintenance, reads and consumer-group offsets of ``LocalLog``'s file."""

    path: Path
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _closed_db: bool
    _routes: dict[str, Any]
    _q: AppendQueue
    _last_batch: local_records.LastBatch

    def _raise_if_corrupt(self, conn: sqlite3.Connection, *, full: bool) -> None:
        problems = store.integrity_problems(conn, full=full)
        if problems:
            raise store.corruption_error(self.path, "; ".join(problems[:5]))

    # -- admin ----------------------------------------------------------------------------------

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The reading/admin connection, locked for this thread; LogError once closed."""
        with self._lock:
            if self._closed_db:
                raise LogError(
                    f"the event log {self.path} is closed; open a new LocalLog to use it"
                )
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if store.is_corruption(exc):
                    raise store.corruption_error(self.path, exc) from exc
                raise LogError(f"event log {self.path}: {exc}") from exc

    @staticmethod
    def _row(conn: sqlite3.Connection, topic: str, partition: int | None = None) -> store.TopicRow:
        row = store.topic_or_raise(store.load_topics(conn), topic)
        if partition is not None:
            store.check_partition(row, partition)
        return row

    def describe_topics(self) -> dict[str, TopicState]:
        with self._db() as conn:
            return describe(conn)

    def apply_topics(
        self, specs: Iterable[TopicSpec], *, dry_run: bool = False
    ) -> list[TopicChange]:
        with self._db() as conn:
            changes = apply_specs(conn, specs, dry_run=dry_run)
        self._routes.clear()
        return changes

    def maintain(self, now_ms: int | None = None) -> MaintenanceReport:
        """Apply retention and compaction now (the writer also does it every
        ``maintain_every_s``)."""
        with self._db() as conn:
            return maintain(conn, now_ms)

    def check(self, *, full: bool = True) -> None:
        """Verify the log (SQLite's integrity_check, or quick_check, plus the offset invariants);
        raises LogCorruptionError naming the file and the problems."""
        with self._db() as conn:
            self._raise_if_corrupt(conn, full=full)

    # -- reading --------------------------------------------------------------------------------

    def partitions(self, topic: str) -> list[int]:
        with self._db() as conn:
            return list(range(self._row(conn, topic).partitions))

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        with self._db() as conn:
            row = self._row(conn, topic, partition)
            return store.watermarks(conn, row.id, partition)

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        with self._db() as conn:
            row = self._row(conn, topic, partition)
            return local_records.offset_for_time(conn, row, partition, timestamp_ms)

    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 500, timeout: float = 1.0
    ) -> list[Record]:
        deadline = time.monotonic() + timeout
        with self._db() as conn:
            row = self._row(conn, topic, partition)
        while True:
            with self._db() as conn:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                records = local_records.read_records(
                    conn, row, partition, offset, max_records, self._last_batch
                )
            if records or time.monotonic() >= deadline:
                return records
            self._await_commit(version, deadline)

    def _await_commit(self, version: int, deadline: float) -> None:
        """Return once any connection committed after ``version`` was read, or at ``deadline``."""
        q = self._q
        while (remaining := deadline - time.monotonic()) > 0:
            with q.progress:  # this process's writer notifies; other processes are polled
                q.progress.wait(min(remaining, READ_POLL_S))
            with self._db() as conn:
                if conn.execute("PRAGMA data_version").fetchone()[0] != version:
                    return

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        if not group or offset < 0:
            raise LogError(
                f"commit needs a group name and an offset >= 0 (got {group!r}, {offset})"
            )
        with self._db() as conn:
            row = self._row(conn, topic, partition)
            local_records.commit_offset(conn, group, row.id, partition, offset)

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        with self._db() as conn:
            row = self._row(conn, topic, partition)
            return local_records.committed_offset(conn, group, row.id, partition)
