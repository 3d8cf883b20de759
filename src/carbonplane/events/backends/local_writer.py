"""The embedded log's group-commit writer: one thread per open log that turns queued records into
committed batches.

Theory of operation. ``produce()`` (any thread) appends a record tuple to ``AppendQueue.records``
and sets ``wake``. The writer thread waits for ``wake``, lets records gather for up to
``linger_s`` after the oldest one arrived (not when a flush or close is waiting), takes up to
``TXN_RECORDS`` of them, and appends them in ONE write transaction: ``BEGIN IMMEDIATE`` (the
database's write lock, shared with every other process writing the same file), offsets assigned
from each partition's ``next_offset``, one batch row per partition, ``COMMIT``. Only after COMMIT
returns are the deliveries queued in ``reports`` for the caller's ``poll()``/``flush()``.

``next_offset`` values are cached between transactions and re-read only when ``PRAGMA
data_version`` says another connection committed since, so a lone writer reads nothing per batch.

Invariants: a record is in exactly one of records / in flight / reported; every record with a
callback gets exactly one report (offset after COMMIT, or an error); a busy database (another
writer holding the lock) is retried until ``delivery_timeout_s`` and never drops records.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from carbonplane.events.backends.base import AckSink, Delivery
from carbonplane.events.backends.local_records import (
    BATCH_RECORDS,
    MAX_BATCH_BYTES,
    encode_batch,
    insert_batches,
)
from carbonplane.events.backends.local_store import is_busy, next_offsets

log = logging.getLogger("carbonplane.events.local")

TXN_RECORDS = 20_000  # records per transaction at most
# record tuple fields, as produce() builds them
GROUP, TS, KEY, VALUE, HEADERS, CALLBACK, QUEUED_AT, TOPIC = range(8)


class AppendQueue:
    """State shared by producing threads and the writer thread."""

    def __init__(self) -> None:
        self.records: deque[tuple] = deque()
        self.inflight = 0  # taken by the writer, not yet committed or failed
        # (callback, Delivery), or (AckSink, (partition, offset, latency_s)) for a success
        self.reports: deque[
            tuple[Callable[[Delivery], None], Delivery | tuple[int, int, float]]
        ] = deque()
        self.wake = threading.Event()  # records arrived
        self.hurry = threading.Event()  # stop lingering: a flush or close waits
        self.progress = threading.Condition()  # notified after every commit or failure
        self.flushing = 0
        self.closing = False
        self.delivered = 0
        self.failed = 0
        self.failed_since_flush = 0

    def pending(self) -> int:
        return len(self.records) + self.inflight


class LogWriter(threading.Thread):
    """Commits queued records in batches; runs ``tick`` (maintenance, route refresh)
    between them."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        queue: AppendQueue,
        path: Path,
        *,
        linger_s: float,
        delivery_timeout_s: float,
        tick: Callable[[sqlite3.Connection], None],
        tick_every_s: float,
    ) -> None:
        super().__init__(name=f"carbonplane-log-writer:{path.name}", daemon=True)
        self.conn, self.q, self.path = conn, queue, path
        self.linger_s, self.delivery_timeout_s = linger_s, delivery_timeout_s
        self.tick, self.tick_every_s = tick, tick_every_s
        self._next: dict[tuple[int, int], int] | None = None
        self._data_version = -1
        self._next_tick = time.monotonic() + tick_every_s
        self._current: list[tuple] = []
        # held while this thread is inside SQLite; a fork waits for it, so that the child inherits
        # an idle connection it can close (``LocalLog``'s fork handlers)
        self.sqlite_lock = threading.Lock()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # never leave callers waiting on a dead writer
            log.exception("event log writer for %s stopped", self.path)
            self._fail(
                self._current + self._take(len(self.q.records)), f"the log writer stopped: {exc!r}"
            )
        finally:
            with self.sqlite_lock:
                self.conn.close()
            self.fail_queued()

    def fail_queued(self) -> None:
        """Report every record still queued as not written (the log is closing)."""
        self._fail(
            self._take(len(self.q.records)),
            "the event log was closed before this record was written",
        )

    def _loop(self) -> None:
        q = self.q
        while True:
            if time.monotonic() >= self._next_tick:
                self._run_tick()
            if not q.records:
                if q.closing:
                    return
                q.wake.wait(max(0.0, self._next_tick - time.monotonic()))
                q.wake.clear()
                continue
            self._linger()
            self._current = self._take(min(len(q.records), TXN_RECORDS))
            self._write(self._current)
            self._current = []

    def _run_tick(self) -> None:
        self._next_tick = time.monotonic() + self.tick_every_s
        with self.sqlite_lock:
            try:
                self.tick(self.conn)
            except Exception:  # maintenance must never stop appends; it is retried at the next tick
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                log.exception("event log %s: maintenance failed; appends go on", self.path)

    def _linger(self) -> None:
        q = self.q
        if q.flushing or q.closing or len(q.records) >= TXN_RECORDS:
            return
        wait = self.linger_s - (time.monotonic() - q.records[0][QUEUED_AT])
        if wait > 0:
            q.hurry.wait(wait)
        q.hurry.clear()

    def _take(self, n: int) -> list[tuple]:
        q = self.q
        q.inflight = n  # counted before leaving the deque, so pending() never under-counts
        popleft = q.records.popleft
        return [popleft() for _ in range(n)]

    def _write(self, batch: list[tuple]) -> None:
        deadline = batch[0][QUEUED_AT] + self.delivery_timeout_s
        warned = False
        while True:
            groups: dict[tuple[int, int], list[tuple]] = {}
            for rec in batch:
                group = groups.get(rec[GROUP])
                if group is None:
                    groups[rec[GROUP]] = [rec]
                else:
                    group.append(rec)
            try:
                with self.sqlite_lock:
                    bases = self._append(groups)
            except (TypeError, ValueError, OverflowError) as exc:
                storable = self._drop_unencodable(batch)
                if len(storable) == len(batch):  # not one record's fault: do not loop on it
                    self._fail(batch, f"event log {self.path}: {exc!r}")
                    return
                batch = storable
                if not batch:
                    self._settle()
                    return
                continue
            except sqlite3.Error as exc:
                self._next = None
                if is_busy(exc) and not self.q.closing and time.monotonic() < deadline:
                    if not warned:
                        log.warning("event log %s is locked by another writer; retrying", self.path)
                        warned = True
                    continue
                self._fail(batch, f"event log {self.path}: {exc}")
                if self.q.closing:  # closing and still locked: the rest would fail the same way
                    self.fail_queued()
                return
            self._ack(groups, bases)
            return

    def _append(self, groups: dict[tuple[int, int], list[tuple]]) -> dict[tuple[int, int], int]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if self._next is None or version != self._data_version:
                self._next, self._data_version = next_offsets(conn), version
            rows, advanced, bases = [], [], {}
            for key, recs in groups.items():
                if key not in self._next:  # a partition added since the cache was read
                    self._next = next_offsets(conn)
                bases[key] = self._next[key]  # KeyError only for a partition that was never created
                nxt = self._batch_rows(key, bases[key], recs, rows)
                advanced.append((nxt, key[0], key[1]))
            insert_batches(conn, rows, advanced)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for nxt, topic_id, part in advanced:  # our own commit leaves data_version unchanged
            self._next[(topic_id, part)] = nxt
        return bases

    @staticmethod
    def _batch_rows(key: tuple[int, int], nxt: int, recs: list[tuple], rows: list[tuple]) -> int:
        """Append batch rows for ``recs`` (one partition, offsets from ``nxt``) to ``rows``: at most
        BATCH_RECORDS records each, split further while a payload exceeds MAX_BATCH_BYTES.
        Returns the partition's next offset."""
        pending = [recs[i : i + BATCH_RECORDS] for i in range(0, len(recs), BATCH_RECORDS)][
            ::-1
        ]  # popped in order
        while pending:
            chunk = pending.pop()
            entries = [
                (o, r[TS], r[KEY], r[VALUE], r[HEADERS])
                for o, r in zip(range(nxt, nxt + len(chunk)), chunk)
            ]
            payload = encode_batch(entries)
            if len(payload) > MAX_BATCH_BYTES and len(chunk) > 1:
                half = len(chunk) // 2
                pending += [chunk[half:], chunk[:half]]
                continue
            rows.append(
                (
                    key[0],
                    key[1],
                    nxt,
                    nxt + len(chunk) - 1,
                    max([e[1] for e in entries]),
                    len(chunk),
                    payload,
                )
            )
            nxt += len(chunk)
        return nxt

    def _ack(
        self, groups: dict[tuple[int, int], list[tuple]], bases: dict[tuple[int, int], int]
    ) -> None:
        q, now, n = self.q, time.monotonic(), 0
        reports = q.reports
        for key, recs in groups.items():
            offset, part = bases[key], key[1]
            for rec in recs:
                cb = rec[CALLBACK]
                if (
                    cb is not None
                ):  # an AckSink takes a success without a Delivery (poll calls acked)
                    reports.append(
                        (
                            cb,
                            (part, offset, now - rec[QUEUED_AT])
                            if isinstance(cb, AckSink)
                            else Delivery(rec[TOPIC], part, offset, None, now - rec[QUEUED_AT]),
                        )
                    )
                offset += 1
            n += len(recs)
        q.delivered += n
        self._settle()

    def _fail(self, batch: list[tuple], error: str) -> None:
        if not batch:
            return
        q, now = self.q, time.monotonic()
        for rec in batch:
            if rec[CALLBACK] is not None:
                q.reports.append(
                    (
                        rec[CALLBACK],
                        Delivery(rec[TOPIC], rec[GROUP][1], -1, error, now - rec[QUEUED_AT]),
                    )
                )
        q.failed += len(batch)
        q.failed_since_flush += len(batch)
        log.error("%d record(s) not written to %s: %s", len(batch), self.path, error)
        self._settle()

    def _settle(self) -> None:
        q = self.q
        q.inflight = 0
        with q.progress:
            q.progress.notify_all()

    def _drop_unencodable(self, batch: list[tuple]) -> list[tuple]:
        good, bad = [], []
        for rec in batch:
            try:
                encode_batch([(0, rec[TS], rec[KEY], rec[VALUE], rec[HEADERS])])
                good.append(rec)
            except (TypeError, ValueError, OverflowError) as exc:
                bad.append((rec, exc))
        for rec, exc in bad:
            self._fail_one(
                rec, f"record cannot be stored ({exc}): headers must be (str, bytes) pairs"
            )
        return good

    def _fail_one(self, rec: tuple, error: str) -> None:
        q = self.q
        if rec[CALLBACK] is not None:
            q.reports.append(
                (
                    rec[CALLBACK],
                    Delivery(
                        rec[TOPIC], rec[GROUP][1], -1, error, time.monotonic() - rec[QUEUED_AT]
                    ),
                )
            )
        q.failed += 1
        q.failed_since_flush += 1
        q.inflight -= 1
        log.error("a record for %s was not written to %s: %s", rec[TOPIC], self.path, error)
