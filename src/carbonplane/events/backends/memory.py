"""An in-memory event log: producer, admin and reader in one object, for tests and embedding.

``MemoryLog`` implements the three seams of ``backends.base`` (``ProducerBackend``, ``LogAdmin``,
``LogReader``) with the semantics the durable backends have, minus durability:

- topics exist only once created (``apply_topics``); producing to an unknown topic raises
  ``UnknownTopicError`` (no auto-creation, as on our Kafka);
- a keyed record goes to ``murmur2(key) % partitions`` (the Java client's partitioner), a keyless
  one round-robin; offsets are dense per partition from 0; ``timestamp_ms=0`` means "now";
- delivery callbacks run once each, on the thread that calls ``poll``/``flush`` (confluent-kafka's
  model), never inside ``produce``;
- ``read`` waits on a condition for new records up to its timeout (no polling loop);
- partition counts only grow; settings are Kafka's config names (``retention.ms``,
  ``cleanup.policy``, ``compression.type``, ``min.insync.replicas``).

Retention and compaction are not enforced (nothing ages out of memory), so ``low`` is always 0.
Thread-safe: one lock guards everything.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from carbonplane.errors import UnknownTopicError
from carbonplane.events.backends.base import (
    Delivery,
    DeliveryCallback,
    Headers,
    LogAdmin,
    LogReader,
    ProducerBackend,
    Record,
    TopicChange,
    TopicState,
)
from carbonplane.events.catalog import TopicSpec
from carbonplane.events.partitioner import partition_for


class _Topic:
    __slots__ = ("name", "partitions", "config", "next_keyless")

    def __init__(self, name: str, partitions: int, config: dict[str, str]) -> None:
        self.name = name
        self.partitions: list[list[Record]] = [[] for _ in range(partitions)]
        self.config = config
        self.next_keyless = 0


class MemoryLog(ProducerBackend, LogAdmin, LogReader):
    """A complete, non-durable log. One instance is shared by the producers and readers using it."""

    name = "memory"

    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._offsets: dict[tuple[str, str, int], int] = {}
        self._pending: deque[tuple[DeliveryCallback | None, Delivery]] = deque()
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)

    # -- ProducerBackend ------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        timestamp_ms: int = 0,
    ) -> None:
        started = time.perf_counter()
        with self._lock:
            t = self._topic(topic)
            if key is None:
                partition = t.next_keyless % len(t.partitions)
                t.next_keyless += 1
            else:
                partition = partition_for(key, len(t.partitions))
            log = t.partitions[partition]
            ts = timestamp_ms or time.time_ns() // 1_000_000
            log.append(Record(topic, partition, len(log), ts, key, value, list(headers or [])))
            delivery = Delivery(topic, partition, len(log) - 1, None, time.perf_counter() - started)
            self._pending.append((on_delivery, delivery))
            self._appended.notify_all()

    def poll(self, timeout: float = 0.0) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self._pending:
                    return ran
                callback, delivery = self._pending.popleft()
            if callback is not None:
                callback(delivery)
            ran += 1

    def flush(self, timeout: float = 10.0) -> int:
        self.poll()
        return 0

    def close(self, timeout: float = 10.0) -> int:
        return self.flush(timeout)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- LogAdmin -------------------------------------------------------------------------------

    def describe_topics(self) -> dict[str, TopicState]:
        with self._lock:
            return {
                t.name: TopicState(t.name, len(t.partitions), 1, dict(t.config))
                for t in self._topics.values()
            }

    def apply_topics(
        self, specs: Iterable[TopicSpec], *, dry_run: bool = False
    ) -> list[TopicChange]:
        changes = []
        with self._lock:
            for spec in specs:
                changes.append(self._apply_one(spec, dry_run))
        return changes

    def _apply_one(self, spec: TopicSpec, dry_run: bool) -> TopicChange:
        wanted = spec.kafka_config(brokers=1)
        t = self._topics.get(spec.name)
        if t is None:
            details: dict[str, tuple[str | None, str]] = {k: (None, v) for k, v in wanted.items()}
            details["partitions"] = (None, str(spec.partitions))
            if not dry_run:
                self._topics[spec.name] = _Topic(spec.name, spec.partitions, wanted)
            return TopicChange(spec.name, "created", details)
        details = {k: (t.config.get(k), v) for k, v in wanted.items() if t.config.get(k) != v}
        have = len(t.partitions)
        if spec.partitions > have:
            details["partitions"] = (str(have), str(spec.partitions))
        action = "updated" if details else "unchanged"
        if spec.partitions < have:  # reported, never applied: partitions only grow
            details["partitions"] = (
                str(have),
                f"{have} (asked {spec.partitions}: partitions never shrink)",
            )
        if action == "unchanged":
            return TopicChange(spec.name, action, details)
        if not dry_run:
            t.config.update(wanted)
            t.partitions.extend([] for _ in range(spec.partitions - len(t.partitions)))
        return TopicChange(spec.name, "updated", details)

    # -- LogReader ------------------------------------------------------------------------------

    def partitions(self, topic: str) -> list[int]:
        with self._lock:
            return list(range(len(self._topic(topic).partitions)))

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        with self._lock:
            return 0, len(self._partition(topic, partition))

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        with self._lock:
            log = self._partition(topic, partition)
            return next((r.offset for r in log if r.timestamp_ms >= timestamp_ms), len(log))

    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 500, timeout: float = 1.0
    ) -> list[Record]:
        deadline = time.monotonic() + timeout
        with self._lock:
            log = self._partition(topic, partition)
            while len(log) <= offset:
                left = deadline - time.monotonic()
                if left <= 0 or not self._appended.wait(left):
                    break
            return log[max(offset, 0) : max(offset, 0) + max_records]

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self._partition(topic, partition)
            self._offsets[(group, topic, partition)] = offset

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        with self._lock:
            return self._offsets.get((group, topic, partition))

    # -- helpers (lock held) --------------------------------------------------------------------

    def _topic(self, topic: str) -> _Topic:
        t = self._topics.get(topic)
        if t is None:
            raise UnknownTopicError(
                topic, "create it first (carbonplane topics apply, or apply_topics)"
            )
        return t

    def _partition(self, topic: str, partition: int) -> list[Record]:
        t = self._topic(topic)
        if not 0 <= partition < len(t.partitions):
            raise UnknownTopicError(
                topic, f"it has no partition {partition} (partitions 0..{len(t.partitions) - 1})"
            )
        return t.partitions[partition]
