"""The Kafka event backend: a ``ProducerBackend`` over confluent-kafka, with an opt-in disk spool.

``KafkaAdmin`` (topics) and ``KafkaReader`` (read back, consumer-group offsets) live in sibling
modules and are re-exported here, so ``backends.kafka`` is the one import for the Kafka backend.
What the producer does with a spool (routing, spooling failed records, serving their reports) is
the ``KafkaSpooling`` mixin in ``kafka_spooling.py``; this module is the plain librdkafka path.

Producer settings: ``EventsConfig.librdkafka`` (idempotent, acks=all, lz4, murmur2_random) plus
``kafka_errors.producer_config`` (``message.timeout.ms`` 30 s unless overridden, no client-side
topic auto-creation, librdkafka's log on ``carbonplane.events.kafka.librdkafka``). See
docs/kafka.md.

Invariants (the seam's, made concrete):
- Every record ``produce`` accepts gets exactly one report through its callback, on the thread that
  calls ``poll``/``flush``/``close``: delivered (partition, offset, produce->ack latency), failed
  (error says what and how to fix), or - with a spool - spooled (``Delivery.spooled``).
- A topic is checked against the broker's metadata the first time it is used: a missing topic
  raises ``UnknownTopicError`` at once instead of waiting for librdkafka to give up.
- A full local queue blocks ``produce`` (polling, so deliveries free room) up to ``queue_timeout``;
  only then does it raise ``BackendUnavailableError``, and the record was not queued.
- Broker down, no spool: records wait in librdkafka until ``message.timeout.ms``; they are delivered
  if the broker returns in time, else reported failed. ``close`` purges what is still queued so that
  it too is reported failed, never dropped unreported.
- Broker down, with a spool (``EventsConfig.spool_dir``): records whose delivery failed with an
  outage error, records still queued when the broker is declared down or the producer closes, and
  records produced while it is down go to the spool (``kafka_spool``), and are reported spooled once
  on disk. A drainer re-sends them when the broker answers, also on the next start of any producer
  using the same spool. While the spool holds records, new records queue behind them (order kept
  within a process); once the backlog is small the drainer hands the producer back to Kafka
  (``kafka_route``): new records wait in memory until the spool's tail is acknowledged, then go to
  Kafka ahead of any newer record. At-least-once: a record may arrive twice, never zero times.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from carbonplane.errors import BackendUnavailableError, DeliveryError, UnknownTopicError
from carbonplane.events.backends.base import (
    AckSink,
    Delivery,
    DeliveryCallback,
    Headers,
    ProducerBackend,
    ReportSink,
)
from carbonplane.events.backends.kafka_admin import KafkaAdmin
from carbonplane.events.backends.kafka_drain import RECONNECT, SpoolDrainer
from carbonplane.events.backends.kafka_errors import (
    UNKNOWN_TOPIC_HINT,
    FailureLog,
    describe,
    is_permanent,
    is_unknown_topic,
    log,
    message_timeout_ms,
    producer_config,
)
from carbonplane.events.backends.kafka_reader import KafkaReader
from carbonplane.events.backends.kafka_route import SpoolRoute
from carbonplane.events.backends.kafka_spool import SpoolWriter
from carbonplane.events.backends.kafka_spooling import KafkaSpooling
from carbonplane.events.backends.spool import Spool, SpooledRecord
from carbonplane.events.config import EventsConfig


class KafkaProducerBackend(KafkaSpooling, ProducerBackend):
    """Queue records to Kafka; see the module docstring for the delivery guarantees."""

    name = "kafka"

    def __init__(
        self,
        cfg: EventsConfig,
        client_id: str,
        *,
        queue_timeout: float = 30.0,
        metadata_timeout: float = 5.0,
    ) -> None:
        self.cfg = cfg
        self.queue_timeout = queue_timeout
        self.metadata_timeout = metadata_timeout
        self.conf = producer_config(cfg, client_id)
        if (
            cfg.spool_dir is not None
        ):  # unless overridden, reconnect quickly after an outage (kafka_drain)
            self.conf = {**RECONNECT, **self.conf}
        self.timeout_ms = message_timeout_ms(self.conf)
        self._producer: Producer = Producer({**self.conf, "error_cb": self._on_error})
        self._failures = FailureLog()
        self._known_topics: set[str] = set()
        self._skip_checks_until = 0.0  # monotonic time; topic checks wait while the broker is down
        self._purge_queued = False  # error_cb saw all brokers down: spool what waits in the queue
        self._fatal: str | None = None
        self._closed = False
        self._queued = (
            0  # records in librdkafka awaiting their report (its own length counts requests too)
        )
        # Records handed to librdkafka with a ReportSink's own ``report`` as callback
        # (accept_reports): their successes are counted by the sinks' owner, in
        # ``self._successes()``.
        self._successes: Callable[[], int] | None = None
        self._direct = self._direct_failed = 0
        self.spool: Spool | None = None
        self._writer: SpoolWriter | None = None
        self._drainer: SpoolDrainer | None = None
        self._route: SpoolRoute | None = (
            None  # with a spool: new records go to Kafka, the spool, or a hold
        )
        if cfg.spool_dir is not None:
            self._open_spool(cfg)
        atexit.register(self._close_at_exit)  # an unclosed producer still reports what it holds

    # -- ProducerBackend ---------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        timestamp_ms: int = 0,
    ) -> None:
        if (
            not self._closed
            and self._writer is None
            and not self._fatal
            and topic in self._known_topics
        ):
            try:  # the common case, inline: an open producer, no spool, a topic known to exist
                if self._successes is not None and isinstance(on_delivery, ReportSink):
                    self._producer.produce(
                        topic,
                        value,
                        key,
                        headers=headers,
                        timestamp=timestamp_ms,
                        on_delivery=on_delivery.report,
                    )  # no wrapper per record
                    self._direct += 1
                    return
                self._producer.produce(
                    topic,
                    value,
                    key,
                    headers=headers,
                    timestamp=timestamp_ms,
                    on_delivery=partial(self._on_ack, topic, on_delivery)
                    if isinstance(on_delivery, AckSink)  # successes skip the Delivery
                    else partial(self._on_delivery, topic, on_delivery),
                )
                self._queued += 1
                return
            except (BufferError, KafkaException):
                pass  # the full path below blocks on a full queue and explains refusals
        if self._closed:
            raise BackendUnavailableError(
                "this Kafka producer is closed; open a new one to produce"
            )
        if self._writer is not None:
            self._produce_with_spool(topic, value, key, headers, on_delivery, timestamp_ms)
            return
        if self._fatal:
            raise BackendUnavailableError(self._fatal)
        if topic not in self._known_topics and time.monotonic() >= self._skip_checks_until:
            self._check_topic(topic)
        self._enqueue(
            topic, value, key, headers, timestamp_ms, partial(self._on_delivery, topic, on_delivery)
        )

    def accept_reports(
        self, successes: Callable[[], int]
    ) -> Callable[[ReportSink, Any, Any], None]:
        """ReportSinks are handed to librdkafka as they are (see ``base.ReportSink``)."""
        self._successes = successes
        return self._on_failed_report

    def poll(self, timeout: float = 0.0) -> int:
        if self._closed:
            return 0
        # topic checks, skipped while the broker was unreachable, resume on a direct success
        before = (
            self._successes() if self._skip_checks_until and self._successes is not None else None
        )
        served = self._producer.poll(timeout)
        if before is not None and self._successes() != before:
            self._skip_checks_until = 0.0
        if self._writer is not None:
            served += self._serve_spool()
        return served

    def flush(self, timeout: float = 10.0) -> int:
        if self._closed:
            return 0
        if self._writer is None:
            return 0 if self._producer.flush(timeout) == 0 else self._in_librdkafka()
        deadline = time.monotonic() + timeout
        while True:  # in slices, so that an outage noticed meanwhile moves the queue to the spool
            remaining = self._producer.flush(max(0.0, min(deadline - time.monotonic(), 0.2)))
            self._serve_spool()
            if remaining == 0:
                self._writer.wait_written(max(0.0, deadline - time.monotonic()))
                self._serve_spool()
            pending = len(self)
            if pending == 0 or time.monotonic() >= deadline:
                return pending

    def close(self, timeout: float = 10.0) -> int:
        """Flush; whatever is still queued is then purged, so it is reported (failed or spooled)."""
        if self._closed:
            return 0
        remaining = self.flush(timeout)
        if self._in_librdkafka() > 0:
            self._producer.purge(in_queue=True, in_flight=True)
            self._producer.flush(1.0)  # serves the purged records' reports
        if self._writer is not None and self._drainer is not None and self._route is not None:
            self._drainer.stop()  # ends a hand-back in progress: its held records go to the spool
            self._route.abort_hold("the producer closed during the hand-back to Kafka")
            self._route.spool_released("the producer closed before these records were sent")
            self._writer.stop()
            self._serve_spool()
            assert self.spool is not None
            self.spool.close()
        self._failures.summary()
        atexit.unregister(self._close_at_exit)
        self._closed = True
        self._producer = None  # type: ignore[assignment]  # librdkafka is released when collected
        return remaining

    def _close_at_exit(self) -> None:
        if not self._closed:
            left = self.close(1.0)
            log.warning(
                "a Kafka producer was still open at exit and was closed; %d records were not yet "
                "acknowledged (%s)",
                left,
                "spooled" if self._writer is not None else "reported failed",
            )

    def __len__(self) -> int:
        if self._closed:
            return 0
        if self._writer is None or self._route is None:
            return self._in_librdkafka()
        return self._in_librdkafka() + len(self._writer) + len(self._route)

    def _in_librdkafka(self) -> int:
        """Records handed to librdkafka whose report has not been served yet."""
        direct = (
            self._direct - self._direct_failed - self._successes()
            if self._successes is not None
            else 0
        )
        return max(0, self._queued + direct)

    # -- librdkafka plumbing -----------------------------------------------------------------------

    def _check_topic(self, topic: str) -> None:
        try:
            meta = self._producer.list_topics(topic, timeout=self.metadata_timeout).topics.get(
                topic
            )
        except KafkaException as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            self._mark_unreachable(
                f"no metadata within {self.metadata_timeout} s ({err.str() if err else exc})"
            )
            return
        if meta is not None and meta.error is None:
            self._known_topics.add(topic)
        elif meta is None or is_unknown_topic(meta.error):
            raise UnknownTopicError(topic, UNKNOWN_TOPIC_HINT)
        elif is_permanent(meta.error):
            raise DeliveryError(topic, describe(meta.error, topic))
        # else transient (leader election after creation): librdkafka waits for the leader

    def _enqueue(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Headers | None,
        timestamp_ms: int,
        callback: Any,
        divert: tuple[SpooledRecord, DeliveryCallback | None, float] | None = None,
    ) -> None:
        """produce(), blocking (and polling) while librdkafka's queue is full, up to
        queue_timeout."""
        deadline = None
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=headers, timestamp=timestamp_ms, on_delivery=callback
                )
                self._queued += 1
                return
            except BufferError:
                pass
            except KafkaException as exc:
                raise self._refused(topic, exc.args[0]) from None
            now = time.monotonic()
            deadline = deadline or now + self.queue_timeout
            if now >= deadline:
                raise BackendUnavailableError(
                    f"the Kafka producer's local queue stayed full for {self.queue_timeout:g} s "
                    f"({self._in_librdkafka()} records waiting for {self.cfg.bootstrap_servers}): "
                    "the broker is "
                    f"slow or unreachable; this record to {topic!r} was not queued"
                )
            self.poll(0.05)
            if divert is not None and self._route is not None and self._route.divert(*divert):
                return

    def _refused(self, topic: str, err: KafkaError) -> Exception:
        if is_unknown_topic(err):
            return UnknownTopicError(topic, UNKNOWN_TOPIC_HINT)
        if err.fatal() or err.code() == KafkaError._FATAL:
            return BackendUnavailableError(
                f"the Kafka producer is unusable: {describe(err, topic)}"
            )
        return DeliveryError(topic, describe(err, topic))

    def _on_delivery(
        self, topic: str, callback: DeliveryCallback | None, err: KafkaError | None, msg: Message
    ) -> None:
        self._queued -= 1
        if (
            err is None and callback is not None
        ):  # the common case, inline: this runs once per record
            self._skip_checks_until = 0.0
            callback(Delivery(topic, msg.partition(), msg.offset(), None, msg.latency() or 0.0))
            return
        self._report(topic, callback, err, msg)

    def _on_ack(self, topic: str, sink: AckSink, err: KafkaError | None, msg: Message) -> None:
        """As ``_on_delivery``, for a sink that takes a success without a ``Delivery``
        being built."""
        if err is None:
            self._queued -= 1
            self._skip_checks_until = 0.0
            sink.acked(msg.partition(), msg.offset(), msg.latency() or 0.0)
            return
        self._on_delivery(topic, sink, err, msg)

    def _on_failed_report(self, sink: ReportSink, err: KafkaError, msg: Message) -> None:
        """A ReportSink's failed record (its successes never come here)."""
        self._direct_failed += 1
        self._report(sink.topic, sink, err, msg)

    def _report(
        self, topic: str, callback: DeliveryCallback | None, err: KafkaError | None, msg: Message
    ) -> None:
        if err is None:
            self._skip_checks_until = 0.0
            if callback is not None:
                callback(Delivery(topic, msg.partition(), msg.offset(), None, msg.latency() or 0.0))
            return
        reason = describe(err, topic, self.timeout_ms)
        self._failures.warn("delivery failed", topic, reason)
        if callback is not None:
            partition = msg.partition()
            callback(
                Delivery(
                    topic,
                    partition if partition is not None and partition >= 0 else -1,
                    -1,
                    reason,
                    msg.latency() or 0.0,
                )
            )

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's error_cb (runs inside poll/flush on the caller's thread)."""
        if err.fatal():
            self._fatal = (
                f"the Kafka producer hit a fatal error ({err.name()}: {err.str()}); "
                "open a new producer"
            )
            log.error("%s", self._fatal)
            if self._route is not None:
                self._route.fatal = self._fatal  # never hand back to this producer
            self._mark_unreachable(self._fatal)
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._failures.warn("connection", str(self.cfg.bootstrap_servers), describe(err, ""))
            self._mark_unreachable(err.str())
            self._purge_queued = self._writer is not None
        else:
            log.debug("librdkafka: %s", err)


__all__ = ["KafkaAdmin", "KafkaProducerBackend", "KafkaReader"]
