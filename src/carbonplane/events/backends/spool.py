"""The disk spool: records the Kafka backend could not deliver, kept durably until it can.

One SQLite file, ``<spool_dir>/spool.db``, in WAL mode with ``synchronous=FULL``: an append is one
transaction, and ``append`` returns only after the transaction (and so its records) is on disk. A
process killed at any moment leaves either the whole batch or none of it, never a torn record.

Tables:
- ``records``: pending records, in spool order (``id`` is AUTOINCREMENT, so ids are never reused
  and order survives deletes). One row = topic, key, value, headers, timestamp_ms, plus when and
  why it was spooled.
- ``dead``: records a broker refused for good (unknown topic, too large, not authorised), moved
  here with the broker's error instead of being dropped. ``requeue_dead`` puts them back.

Several processes may share one spool directory: SQLite serialises writers (``busy_timeout``), and
``DrainLock`` (an ``flock`` on ``drain.lock``) lets one process at a time re-send, so two drainers
never send the same row concurrently. A drainer removes a row only after the broker acknowledged it;
a crash between the acknowledgement and the delete re-sends the row: delivery is at-least-once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from carbonplane.errors import BackendUnavailableError

Headers = list[tuple[str, bytes]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key BLOB,
    value BLOB,
    headers BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    spooled_at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    key BLOB,
    value BLOB,
    headers BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    spooled_at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    died_at_ms INTEGER NOT NULL
);
"""

_COLUMNS = "id, topic, key, value, headers, timestamp_ms, spooled_at_ms, reason"
_headers_encoder = msgspec.msgpack.Encoder()
_headers_decoder = msgspec.msgpack.Decoder(list[tuple[str, bytes]])


@dataclass(slots=True)
class SpooledRecord:
    """One record as the spool keeps it. ``id`` is -1 until the spool assigned one."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = field(default_factory=list)
    timestamp_ms: int = 0
    reason: str = ""
    id: int = -1
    spooled_at_ms: int = 0


class Spool:
    """A durable FIFO of records under ``directory`` (created when missing)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "spool.db"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailableError(
                f"cannot open the event spool {self.path}: {exc}; check that the directory is "
                "writable "
                "(CARBONPLANE_SPOOL_DIR) or unset CARBONPLANE_SPOOL"
            ) from exc
        self._lock = threading.Lock()

    def append(self, records: Sequence[SpooledRecord]) -> None:
        """Store ``records`` in one transaction; on return they are on disk (fsync'd)."""
        if not records:
            return
        now = time.time_ns() // 1_000_000
        rows = [
            (
                r.topic,
                r.key,
                r.value,
                _headers_encoder.encode(r.headers or []),
                r.timestamp_ms,
                now,
                r.reason,
            )
            for r in records
        ]
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT INTO records (topic, key, value, headers, timestamp_ms, spooled_at_ms, "
                "reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def peek(self, limit: int = 1000, after_id: int = 0) -> list[SpooledRecord]:
        """The oldest ``limit`` records with ``id > after_id``, in spool order (not removed)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def remove(self, ids: Iterable[int]) -> int:
        """Delete acknowledged records; returns how many were still there."""
        batch = [(i,) for i in ids]
        if not batch:
            return 0
        with self._lock, self._transaction():
            before = self._db.total_changes
            self._db.executemany("DELETE FROM records WHERE id = ?", batch)
            return self._db.total_changes - before

    def bury(self, record_id: int, error: str) -> None:
        """Move a record the broker refused for good to ``dead``, keeping the broker's error."""
        now = time.time_ns() // 1_000_000
        with self._lock, self._transaction():
            self._db.execute(
                f"INSERT OR REPLACE INTO dead ({_COLUMNS}, error, died_at_ms) "
                f"SELECT {_COLUMNS}, ?, ? FROM records WHERE id = ?",
                (error, now, record_id),
            )
            self._db.execute("DELETE FROM records WHERE id = ?", (record_id,))

    def dead(self, limit: int = 1000) -> list[tuple[SpooledRecord, str]]:
        """Buried records with the error that buried them, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, error FROM dead ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(_record(row[:-1]), row[-1]) for row in rows]

    def requeue_dead(self) -> int:
        """Put every buried record back at the end of the queue (e.g. once its topic exists)."""
        with self._lock, self._transaction():
            cur = self._db.execute(
                "INSERT INTO records (topic, key, value, headers, timestamp_ms, spooled_at_ms, "
                "reason) "
                "SELECT topic, key, value, headers, timestamp_ms, spooled_at_ms, 'requeued: ' || "
                "error "
                "FROM dead ORDER BY id"
            )
            self._db.execute("DELETE FROM dead")
            return cur.rowcount

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM records").fetchone()[0]

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None

    def dead_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM dead").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> "_Txn":
        return _Txn(self._db)


class _Txn:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): one durable unit of work."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _record(row: tuple) -> SpooledRecord:
    rid, topic, key, value, headers, ts, spooled_at, reason = row
    return SpooledRecord(
        topic, value, key, list(_headers_decoder.decode(headers)), ts, reason, rid, spooled_at
    )


class DrainLock:
    """Exclusive right to re-send a spool directory's records, held by at most one process.

    An ``flock`` on ``<directory>/drain.lock``: the kernel releases it when the holder exits or
    dies, so a crashed drainer never blocks the next one.
    """

    def __init__(self, directory: Path | str) -> None:
        self.path = Path(directory) / "drain.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
