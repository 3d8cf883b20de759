"""The seams every event backend implements (local log, Kafka), and their shared records.

Three small interfaces, so that one contract suite can run against every backend:

``ProducerBackend``  queue records, deliver them asynchronously, report each outcome once
                     through ``on_delivery`` (success with partition/offset, or an error string).
``LogAdmin``         topics: describe live settings, create/update them from the catalog.
``LogReader``        read back: partitions, watermarks, offset-for-time, a batch from an offset,
                     and consumer-group committed offsets.

Invariants every implementation keeps:
- ``produce`` never silently drops a record: either it is queued (and its delivery callback will
  run exactly once, with success or an error) or ``produce`` raises.
- a full local queue blocks the caller (back-pressure) up to the backend's ``queue_timeout``
  rather than raising at once.
- ``flush(timeout)`` returns how many records are still undelivered (0 = all acknowledged).
- offsets within a partition are dense and increasing from 0 for a new topic; ``high`` is the
  offset the next record will get.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from carbonplane.events.catalog import TopicSpec

Headers = list[tuple[str, bytes]]


@dataclass(slots=True)
class Delivery:
    """The outcome of one produced record."""

    topic: str
    partition: int  # -1 when unknown (failed before assignment)
    offset: int  # -1 when failed
    error: str | None = None
    latency_s: float = 0.0  # produce() -> acknowledgement
    # True when the backend could not deliver yet but stored the record durably in its disk spool
    # (``error`` then says why); it is re-sent later. Check ``spooled`` before ``ok``.
    spooled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


DeliveryCallback = Callable[[Delivery], None]


class AckSink:
    """A delivery callback that can also take a success without a ``Delivery`` being built for it.

    Optional and backward compatible: any backend may simply call the sink with a ``Delivery`` (it
    is a ``DeliveryCallback``); a backend on a hot path may instead report a successful delivery
    with
    ``sink.acked(partition, offset, latency_s)``, which must be equivalent to
    ``sink(Delivery(sink.topic, partition, offset, None, latency_s))``. Failures and spooled records
    always go through ``sink(Delivery)``."""

    __slots__ = ()
    topic: str

    def __call__(self, delivery: Delivery) -> None:
        raise NotImplementedError

    def acked(self, partition: int, offset: int, latency_s: float) -> None:
        self(Delivery(self.topic, partition, offset, None, latency_s))


class ReportSink(AckSink):
    """An AckSink that also takes a librdkafka client's own per-record report, ``report(error,
    message)``.

    librdkafka calls a record's delivery callback with ``(error, message)``. A backend on such a
    client may hand ``sink.report`` to it as that callback, with no wrapper object per record, once
    the sinks' owner has agreed through ``ProducerBackend.accept_reports``: the sink then counts
    each success itself (in the count the owner gave the backend) and passes each failure,
    untouched, to the failure handler the backend returned, which turns it into a failed or spooled
    ``Delivery`` as usual."""

    __slots__ = ()

    def report(self, error: object, message: object) -> None:
        raise NotImplementedError


@dataclass(slots=True)
class Record:
    """One stored record, as read back."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


@dataclass(slots=True)
class TopicState:
    """A topic as the backend has it now."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]  # retention.ms, cleanup.policy, compression.type, min.insync.replicas


@dataclass(slots=True)
class TopicChange:
    """What ``apply_topics`` did to one topic. ``action``: created | updated | unchanged."""

    topic: str
    action: str
    details: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # key -> (old, new)


class ProducerBackend(ABC):
    name: str = "?"

    @abstractmethod
    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        timestamp_ms: int = 0,
    ) -> None:
        """Queue one record (blocking while the queue is full). Raises UnknownTopicError for a
        topic that does not exist, BackendUnavailableError when it cannot queue at all."""

    @abstractmethod
    def poll(self, timeout: float = 0.0) -> int:
        """Run pending delivery callbacks; returns how many ran."""

    @abstractmethod
    def flush(self, timeout: float = 10.0) -> int:
        """Wait for delivery of everything queued; returns the number still undelivered."""

    @abstractmethod
    def close(self, timeout: float = 10.0) -> int:
        """Flush and release resources; returns the number still undelivered."""

    def __len__(self) -> int:
        """Records queued and not yet acknowledged."""
        return 0

    def accept_reports(
        self, successes: Callable[[], int]
    ) -> Callable[[ReportSink, object, object], None] | None:
        """Opt in to ``ReportSink``s: the caller promises that every ReportSink it passes to
        ``produce`` counts its successful reports in ``successes()``. Returns the handler the sinks
        pass failures to, or None when this backend does not take such sinks (the default: it
        reports through ``acked`` or a ``Delivery``)."""
        return None


class LogAdmin(ABC):
    @abstractmethod
    def describe_topics(self) -> dict[str, TopicState]:
        """Every existing topic (internal ones excluded), by name."""

    @abstractmethod
    def apply_topics(
        self, specs: Iterable[TopicSpec], *, dry_run: bool = False
    ) -> list[TopicChange]:
        """Create missing topics and bring settings in line with ``specs``; idempotent.
        Partition counts only grow (Kafka cannot shrink them): a smaller spec is reported, not
        applied."""


class LogReader(ABC):
    @abstractmethod
    def partitions(self, topic: str) -> list[int]:
        """Partition ids of ``topic``; UnknownTopicError when it does not exist."""

    @abstractmethod
    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(low, high): first available offset and the next offset to be written."""

    @abstractmethod
    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """The first offset whose timestamp is >= ``timestamp_ms`` (``high`` if none)."""

    @abstractmethod
    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 500, timeout: float = 1.0
    ) -> list[Record]:
        """Up to ``max_records`` records from ``offset`` on; empty when none arrive in
        ``timeout``."""

    @abstractmethod
    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Store ``offset`` (the next to read) as ``group``'s position in the partition."""

    @abstractmethod
    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """``group``'s committed position, or None."""

    def close(self) -> None:  # pragma: no cover - trivial default
        pass
