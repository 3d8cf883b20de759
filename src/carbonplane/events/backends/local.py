"""The embedded durable event log: the ``local`` backend, and the default when nothing is
configured.

One SQLite file (WAL mode, ``synchronous=FULL``) under ``$CARBONPLANE_HOME/events/log.db`` holds
topics with partitions, offsets, per-topic retention and compaction, and consumer-group offsets.
Any number of processes may produce to, read and administer the same file at once.

``LocalLog`` implements the three seams of ``backends.base``:

- ``ProducerBackend``: ``produce`` checks the topic, picks the partition (murmur2 of the key, as
  Kafka's Java client; keyless records round-robin), queues the record and returns; a writer thread
  commits the queue in batches (``local_writer``). A delivery is reported, through ``poll``/
  ``flush`` on the caller's thread as in confluent-kafka, only after its transaction committed:
  an acknowledged record survives the process being killed at any instant (and a power loss, as
  far as the disk honours fsync). A full queue blocks ``produce`` up to ``queue_timeout``.
- ``LogAdmin``: topics from ``TopicSpec``s (``local_topics``); ``maintain()`` runs retention and
  compaction (``local_maintain``), and the writer runs it every ``maintain_every_s``.
- ``LogReader``: partitions, watermarks, offset-for-time, reads (waiting up to ``timeout`` for
  records to arrive, from this or any other process) and committed consumer-group offsets.

At exit open logs are flushed and closed; across ``fork()`` the child's inherited logs are closed
and refuse work (``local_lifetime``). Only SQLite ever opens the file (``local_store.connect``).

docs/local-log.md describes the layout, the durability promise and the measured throughput.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from carbonplane.errors import BackendUnavailableError, DeliveryError, LogError
from carbonplane.events.backends import local_records
from carbonplane.events.backends import local_store as store
from carbonplane.events.backends.base import (
    Delivery,
    DeliveryCallback,
    Headers,
    ProducerBackend,
)
from carbonplane.events.backends.local_access import LocalAccess
from carbonplane.events.backends.local_lifetime import OPEN_LOGS
from carbonplane.events.backends.local_maintain import (
    MaintenanceReport,
    last_maintenance_ms,
    maintain,
)
from carbonplane.events.backends.local_topics import apply_specs
from carbonplane.events.backends.local_writer import AppendQueue, LogWriter
from carbonplane.events.catalog import TOPICS
from carbonplane.events.config import EventsConfig
from carbonplane.events.partitioner import partition_for

WRITER_BUSY_TIMEOUT_S = 1.0  # the writer re-checks close/deadline at least this often when locked
ROUTE_CACHE_KEYS = 65_536  # key -> partition memo per topic


class _Route:
    """What ``produce`` needs to know about one topic."""

    __slots__ = ("name", "id", "partitions", "compact", "groups", "by_key", "rr")

    def __init__(self, row: store.TopicRow, previous: _Route | None) -> None:
        self.name, self.id, self.partitions, self.compact = (
            row.name,
            row.id,
            row.partitions,
            row.compact,
        )
        self.groups = [(row.id, p) for p in range(row.partitions)]
        same = previous is not None and previous.partitions == row.partitions
        self.by_key: dict[bytes, int] = previous.by_key if same else {}
        self.rr = previous.rr if previous is not None else 0

    def partition_of(self, key: bytes) -> int:
        if len(self.by_key) >= ROUTE_CACHE_KEYS:
            self.by_key.clear()
        p = self.by_key[key] = partition_for(key, self.partitions)
        return p

    def next_round_robin(self) -> int:
        self.rr = p = (self.rr + 1) % self.partitions
        return p


class LocalLog(ProducerBackend, LocalAccess):
    """The embedded log at ``path``; safe to use from many threads, and from many processes at once.

    ``queue_max`` records may wait for the writer; beyond that ``produce`` blocks up to
    ``queue_timeout`` seconds, then raises BackendUnavailableError. ``linger_ms`` is how long the
    writer lets records gather before a commit. ``create_catalog`` creates the 12 catalog topics
    that do not exist yet. A record the writer cannot commit within ``delivery_timeout`` seconds
    (the file stays locked) is reported failed. ``busy_timeout`` bounds how long reads and admin
    calls wait for another process's write lock.
    """

    name = "local"

    def __init__(
        self,
        path: Path,
        *,
        queue_max: int = 100_000,
        queue_timeout: float = 30.0,
        linger_ms: float = 5.0,
        create_catalog: bool = True,
        delivery_timeout: float = 300.0,
        maintain_every_s: float = 60.0,
        busy_timeout: float = 30.0,
    ) -> None:
        if queue_max < 1 or queue_timeout < 0 or linger_ms < 0:
            raise LogError(
                f"LocalLog({path}): queue_max must be >= 1 and queue_timeout, linger_ms >= 0"
            )
        self.path = Path(path).expanduser()
        self.queue_max, self.queue_timeout, self.linger_s = (
            queue_max,
            queue_timeout,
            linger_ms / 1000,
        )
        self.delivery_timeout, self.maintain_every_s, self.busy_timeout = (
            delivery_timeout,
            maintain_every_s,
            busy_timeout,
        )
        self._lock = threading.RLock()  # guards self._conn (reads and admin from any thread)
        self._conn = store.connect(self.path, busy_timeout)
        try:
            self._open_checks(create_catalog)
        except BaseException:
            self._conn.close()
            raise
        self._q = AppendQueue()
        self._routes: dict[str, _Route] = {}
        self._known: dict[str, _Route] = {}
        self._writer: LogWriter | None = None
        self._closed = self._closed_db = False
        self._last_batch = local_records.LastBatch()
        OPEN_LOGS.add(self)

    @classmethod
    def from_config(cls, cfg: EventsConfig, **options) -> LocalLog:
        return cls(cfg.log_path, **options)

    def _open_checks(self, create_catalog: bool) -> None:
        try:
            store.ensure_schema(self._conn, self.path)
            if self.path.stat().st_size <= store.QUICK_CHECK_MAX_BYTES:
                self._raise_if_corrupt(self._conn, full=False)
            existing = store.load_topics(self._conn)
            if create_catalog and not all(t.name in existing for t in TOPICS):
                apply_specs(self._conn, TOPICS, only_missing=True)
        except sqlite3.DatabaseError as exc:
            if store.is_corruption(exc):
                raise store.corruption_error(self.path, exc) from exc
            raise LogError(f"cannot open event log {self.path}: {exc}") from exc

    # -- producing ------------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        timestamp_ms: int = 0,
    ) -> None:
        route = self._routes.get(topic)
        if route is None:
            route = self._route(topic)
        if key is None:
            if route.compact:
                return self._reject_keyless(route, on_delivery)
            partition = route.next_round_robin()
        else:
            if key.__class__ is not bytes:
                key = _as_bytes(key, "key")
            partition = route.by_key.get(key)
            if partition is None:
                partition = route.partition_of(key)
        if value is not None:
            if value.__class__ is not bytes:
                value = _as_bytes(value, "value")
            if len(value) > local_records.MAX_RECORD_BYTES:
                raise DeliveryError(
                    topic,
                    f"a value of {len(value)} bytes exceeds the local log's limit of "
                    f"{local_records.MAX_RECORD_BYTES} bytes per record: store large data "
                    "elsewhere, send a reference",
                )
        q = self._q
        if len(q.records) + q.inflight >= self.queue_max:
            self._wait_for_room()
        q.records.append(
            (
                route.groups[partition],
                int(timestamp_ms) if timestamp_ms else time.time_ns() // 1_000_000,
                key,
                value,
                headers,
                on_delivery,
                time.monotonic(),
                topic,
            )
        )
        if not q.wake.is_set():
            q.wake.set()

    def _route(self, topic: str) -> _Route:
        if self._closed:
            raise BackendUnavailableError(
                f"the local event log {self.path} is closed; open a new LocalLog"
            )
        with self._lock:
            row = store.topic_or_raise(store.load_topics(self._conn), topic)
            route = self._known[topic] = _Route(row, self._known.get(topic))
            self._routes[topic] = route
            if self._writer is None:
                self._writer = LogWriter(
                    store.connect(self.path, WRITER_BUSY_TIMEOUT_S),
                    self._q,
                    self.path,
                    linger_s=self.linger_s,
                    delivery_timeout_s=self.delivery_timeout,
                    tick=self._tick,
                    tick_every_s=min(5.0, self.maintain_every_s),
                )
                self._writer.start()
        return route

    def _tick(self, conn: sqlite3.Connection) -> None:
        """Writer thread, every few seconds: pick up topic changes, run maintenance when due."""
        self._routes.clear()
        now_ms = time.time_ns() // 1_000_000
        if now_ms - last_maintenance_ms(conn) >= self.maintain_every_s * 1000:
            maintain(conn, now_ms)

    def _reject_keyless(self, route: _Route, on_delivery: DeliveryCallback | None) -> None:
        error = (
            f"topic {route.name!r} is compacted (cleanup.policy compact) and, as on Kafka, needs a "
            "key "
            "on every record: give the record a key"
        )
        if on_delivery is not None:
            self._q.reports.append((on_delivery, Delivery(route.name, -1, -1, error)))
        self._q.failed += 1
        self._q.failed_since_flush += 1

    def _wait_for_room(self) -> None:
        q, deadline = self._q, time.monotonic() + self.queue_timeout
        with q.progress:
            while q.pending() >= self.queue_max:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    raise BackendUnavailableError(
                        f"the local event log's queue stayed full ({self.queue_max} records) for "
                        f"{self.queue_timeout}s: "
                        f"{self.path} is locked by another process or its disk is stalled; check "
                        "the disk, "
                        "or raise queue_max / queue_timeout"
                    )
                q.progress.wait(remaining)

    def poll(self, timeout: float = 0.0) -> int:
        reports = self._q.reports
        if not reports and timeout > 0:
            with self._q.progress:
                if not reports and self._q.pending():
                    self._q.progress.wait(timeout)
        ran = 0
        while reports:
            try:
                callback, delivery = reports.popleft()
            except IndexError:
                break
            if type(delivery) is tuple:  # a success for an AckSink: (partition, offset, latency_s)
                callback.acked(*delivery)
            else:
                callback(delivery)
            ran += 1
        return ran

    def flush(self, timeout: float = 10.0) -> int:
        """Wait until every queued record is committed (or failed) and run their callbacks.
        Returns the records not written: still queued, or failed since the previous flush."""
        q, deadline = self._q, time.monotonic() + timeout
        with q.progress:
            q.flushing += 1
        q.hurry.set()
        try:
            while True:
                self.poll(0)
                remaining = deadline - time.monotonic()
                with q.progress:
                    if not q.pending() or remaining <= 0:
                        break
                    if not q.reports:
                        q.progress.wait(remaining)
        finally:
            with q.progress:
                q.flushing -= 1
        self.poll(0)
        undelivered, q.failed_since_flush = q.pending() + q.failed_since_flush, 0
        return undelivered

    def close(self, timeout: float = 10.0) -> int:
        """Flush (up to ``timeout``), stop the writer, fail whatever could not be written, release
        the database. Returns the number of records not written."""
        if self._closed:
            return 0
        undelivered = self.flush(timeout) if self._writer is not None else self.flush(0)
        self._closed = True
        self._routes.clear()
        writer = self._writer
        if writer is not None:
            self._q.closing = True
            self._q.wake.set()
            self._q.hurry.set()
            writer.join(WRITER_BUSY_TIMEOUT_S + 5.0)
            writer.fail_queued()  # a produce() that raced close()
        self.poll(0)
        with self._lock:
            self._closed_db = True
            self._conn.close()
        OPEN_LOGS.discard(self)  # only now: a fork during close() still waits for its connections
        return undelivered

    def __len__(self) -> int:
        return self._q.pending()

    def stats(self) -> dict[str, int]:
        """Counters since open: records delivered (committed), failed, and queued now."""
        q = self._q
        return {"delivered": q.delivered, "failed": q.failed, "queued": q.pending()}


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a record {what} must be bytes, str or None, not {type(data).__name__}")


__all__ = ["LocalLog", "MaintenanceReport"]
