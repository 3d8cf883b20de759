"""The embedded event log's storage: one SQLite database in WAL mode, and the SQL that touches it.

Tables::

    meta(key, value)                               schema version, last maintenance time
    topics(id, name, partitions, retention_ms, cleanup_policy, compression, config)
    partitions(topic_id, part, next_offset, low_offset, compacted_to, oldest_tombstone_ms)
    batches(id, topic_id, part, base_offset, last_offset, max_ts, count, payload)
    group_offsets(group_id, topic_id, part, next_offset, committed_ms)

A ``batches`` row holds the records one transaction appended to one partition (its encoding,
and the SQL that writes and reads records and consumer-group offsets, is ``local_records.py``).
This module opens the file, keeps its schema, checks its integrity and reads its topics.

Invariants:
- offsets are assigned only inside a write transaction (``BEGIN IMMEDIATE``, which holds the
  database's single write lock) from ``partitions.next_offset``, advanced in the same transaction:
  dense, increasing, never reused, however many processes append at once;
- the batches of a partition never overlap and ``UNIQUE(topic_id, part, last_offset)`` holds;
- ``low_offset`` <= the first stored offset and ``next_offset`` > the last one;
- nothing is reported written before its transaction has committed;
- no code in this process opens the database file or its ``-wal``/``-shm`` except through SQLite
  (closing any other descriptor of the file drops this process's locks on it: see ``connect``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from carbonplane.errors import LogCorruptionError, LogError, UnknownTopicError

SCHEMA_VERSION = 1
QUICK_CHECK_MAX_BYTES = 16 << 20  # open() runs PRAGMA quick_check on logs up to this size

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS topics (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL,
        retention_ms INTEGER NOT NULL, cleanup_policy TEXT NOT NULL, compression TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE IF NOT EXISTS partitions (
        topic_id INTEGER NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL DEFAULT 0,
        low_offset INTEGER NOT NULL DEFAULT 0, compacted_to INTEGER NOT NULL DEFAULT 0,
        oldest_tombstone_ms INTEGER, PRIMARY KEY (topic_id, part)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS batches (
        id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, part INTEGER NOT NULL,
        base_offset INTEGER NOT NULL, last_offset INTEGER NOT NULL, max_ts INTEGER NOT NULL,
        count INTEGER NOT NULL, payload BLOB NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS batches_by_offset ON batches (topic_id, part, last_offset)",
    """CREATE TABLE IF NOT EXISTS group_offsets (
        group_id TEXT NOT NULL, topic_id INTEGER NOT NULL, part INTEGER NOT NULL,
        next_offset INTEGER NOT NULL, committed_ms INTEGER NOT NULL,
        PRIMARY KEY (group_id, topic_id, part)) WITHOUT ROWID""",
)


@dataclass(frozen=True, slots=True)
class TopicRow:
    """A topic as stored in the log."""

    id: int
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str
    compression: str
    extra: dict[str, str]

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    def kafka_config(self) -> dict[str, str]:
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "compression.type": self.compression,
            "min.insync.replicas": "1",
        }


def is_corruption(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def is_busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def corruption_error(path: Path, problem: object) -> LogCorruptionError:
    return LogCorruptionError(
        f"event log {path} is corrupt ({problem}): move it aside and start a new log "
        "(records in it are lost unless you can repair it with the sqlite3 '.recover' command)"
    )


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Open ``path`` (creating it) in WAL mode with ``synchronous=FULL``; LogCorruptionError when
    the file is not a database.

    Only SQLite opens the file. Its locks are POSIX advisory locks, which the kernel drops, for the
    whole process, when the process closes *any* descriptor of the file: one ``open()``/``close()``
    of ``log.db`` (or its ``-wal``/``-shm``) beside live connections makes this process look absent
    to the others, and the last of them to close the log then checkpoints and deletes the ``-wal``
    this process is still appending to. SQLite itself keeps one descriptor per file per process and
    defers closing it while another connection holds locks. A file that is not a database is
    recognised by SQLite on its first read (SQLITE_NOTADB), below."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # events may carry audit data
    except OSError as exc:
        raise LogError(
            f"cannot create the event log's folder {path.parent}: {exc.strerror}"
        ) from exc
    try:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise LogError(
            f"cannot open event log {path}: {exc}; check the folder's permissions"
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        _refuse_foreign_file(conn, path)
        mode = _enable_wal(conn, time.monotonic() + busy_timeout_s)
        if mode.lower() != "wal":
            raise LogError(
                f"event log {path} cannot use WAL mode (got {mode!r}); put it on a local file "
                "system"
            )
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException as exc:
        conn.close()  # through SQLite: leaves the locks of this process's other connections alone
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        if is_corruption(exc):
            raise corruption_error(path, exc) from exc
        raise LogError(f"cannot open event log {path}: {exc}") from exc
    return conn


def _size(path: Path) -> int:
    try:
        return path.stat().st_size  # stat opens nothing: locks stay as they are
    except FileNotFoundError:
        return 0


def _refuse_foreign_file(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite reads the header on the first statement and refuses a foreign one (SQLITE_NOTADB),
    except in a file too short to have a header (1 byte), which it would take for a new, empty
    database and overwrite: a non-empty file with no pages is refused here. The size is taken
    before the page count, so a log another process creates meanwhile is never mistaken for one;
    a creation rolled back meanwhile leaves the file empty again (the second stat)."""
    size = _size(path)
    if size and conn.execute("PRAGMA page_count").fetchone()[0] == 0 and _size(path):
        raise corruption_error(path, "not an SQLite database")


def _enable_wal(conn: sqlite3.Connection, deadline: float) -> str:
    """Switch a new file to WAL (persistent, so later opens only read the mode). SQLite does not
    run the busy handler for this switch, so when several processes create the log at once the
    losers retry with a short back-off until ``deadline``."""
    pause = 0.001
    while True:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() == "wal":
            return mode
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction holding the database's write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new log; refuse a log written by a newer schema."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) == SCHEMA_VERSION:
            return  # an existing, current log: no write lock needed to open it
    except sqlite3.OperationalError:
        pass  # no meta table yet: a new log
    with write_txn(conn):
        for statement in _SCHEMA:
            conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise LogError(
                f"event log {path} has schema version {row[0]}, newer than this carbonplane "
                f"understands ({SCHEMA_VERSION}): upgrade carbonplane"
            )


def integrity_problems(conn: sqlite3.Connection, *, full: bool) -> list[str]:
    """SQLite's own check, then the log's invariants; an empty list means healthy."""
    pragma = "integrity_check" if full else "quick_check"
    problems = [r[0] for r in conn.execute(f"PRAGMA {pragma}") if r[0] != "ok"]
    if problems:
        return problems
    for tid, part, nxt, low, last, first in conn.execute(
        """SELECT p.topic_id, p.part, p.next_offset, p.low_offset,
                  MAX(b.last_offset), MIN(b.base_offset)
           FROM partitions p JOIN batches b ON b.topic_id = p.topic_id AND b.part = p.part
           GROUP BY p.topic_id, p.part"""
    ):
        if last >= nxt or first < low:
            problems.append(
                f"topic id {tid} partition {part}: stored offsets {first}..{last} "
                f"outside its watermarks [{low}, {nxt})"
            )
    return problems


# -- topics ---------------------------------------------------------------------------------------


def load_topics(conn: sqlite3.Connection) -> dict[str, TopicRow]:
    rows = conn.execute(
        "SELECT id, name, partitions, retention_ms, cleanup_policy, compression, config FROM "
        "topics ORDER BY id"
    ).fetchall()
    return {r[1]: TopicRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows}


def topic_or_raise(topics: dict[str, TopicRow], name: str) -> TopicRow:
    row = topics.get(name)
    if row is None:
        raise UnknownTopicError(
            name,
            "it does not exist in the local event log; create it with "
            "`carbonplane topics apply` (or LocalLog.apply_topics)",
        )
    return row


def check_partition(topic: TopicRow, partition: int) -> None:
    if not 0 <= partition < topic.partitions:
        raise UnknownTopicError(
            topic.name,
            f"partition {partition} does not exist; the topic has "
            f"{topic.partitions} (0..{topic.partitions - 1})",
        )


def next_offsets(conn: sqlite3.Connection) -> dict[tuple[int, int], int]:
    return {
        (t, p): n for t, p, n in conn.execute("SELECT topic_id, part, next_offset FROM partitions")
    }


def watermarks(conn: sqlite3.Connection, topic_id: int, partition: int) -> tuple[int, int]:
    row = conn.execute(
        "SELECT low_offset, next_offset FROM partitions WHERE topic_id = ? AND part = ?",
        (topic_id, partition),
    ).fetchone()
    return (row[0], row[1]) if row else (0, 0)
