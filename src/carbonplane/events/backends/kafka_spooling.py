"""The spool side of the Kafka producer: what ``KafkaProducerBackend`` does when
``EventsConfig.spool_dir`` is set.

``KafkaSpooling`` is a mixin of ``KafkaProducerBackend`` (``backends/kafka.py``), kept apart so that
the plain path (no spool) reads on its own. Its methods run only when the backend opened a spool
(``_open_spool``), and they use the backend's librdkafka plumbing (``_enqueue``, ``_check_topic``,
``_report``) and state (``_producer``, ``_queued``, ``_known_topics``, ``_skip_checks_until``).

Invariants (with the backend's, in ``backends/kafka.py``):
- A record takes one of three ways, chosen by ``SpoolRoute`` (``kafka_route``): to Kafka, to the
  spool (``SpoolWriter``), or held during a hand-back; held records are released, in order, on the
  caller's thread before any newer record is enqueued.
- A record whose delivery failed with an outage error goes to the spool and is reported spooled once
  on disk; a permanent error is reported failed, never spooled.
- Reports of spooled records are served on the thread that calls ``poll``/``flush``/``close``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, Message

from carbonplane.events.backends.base import DeliveryCallback, Headers
from carbonplane.events.backends.kafka_drain import SpoolDrainer
from carbonplane.events.backends.kafka_errors import FailureLog, describe, is_permanent, log
from carbonplane.events.backends.kafka_route import SpoolRoute
from carbonplane.events.backends.kafka_spool import SpoolWriter
from carbonplane.events.backends.spool import Spool, SpooledRecord
from carbonplane.events.config import EventsConfig

UNREACHABLE_RECHECK_S = 30.0  # after a failed metadata request, skip topic checks this long


class KafkaSpooling:
    """The spool paths of ``KafkaProducerBackend`` (a mixin: see the module docstring)."""

    conf: dict[str, Any]
    timeout_ms: int
    spool: Spool | None
    _writer: SpoolWriter | None
    _drainer: SpoolDrainer | None
    _route: SpoolRoute | None
    _failures: FailureLog
    _known_topics: set[str]
    _skip_checks_until: float
    _purge_queued: bool
    _queued: int
    _producer: Any
    # the backend's librdkafka plumbing (``backends/kafka.py``)
    _check_topic: Callable[[str], None]
    _enqueue: Callable[..., None]
    _report: Callable[..., None]

    def spool_status(self) -> dict[str, Any]:
        """The spool's state: ``backlog`` (records waiting), ``dead``, ``drained``/``buried`` by
        this process's drainer, ``routing`` (new records go to the spool), ``broker_up``."""
        if self.spool is None or self._drainer is None or self._route is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "path": str(self.spool.path),
            "backlog": len(self.spool),
            "dead": self.spool.dead_count(),
            "drained": self._drainer.drained,
            "buried": self._drainer.buried,
            "routing": self._route.routing,
            "state": self._route.state,
            "handbacks": self._route.handbacks,
            "broker_up": bool(self._drainer.broker_up),
        }

    def wait_drained(self, timeout: float) -> bool:
        """Wait until the spool is empty (everything re-sent and acknowledged); True when so."""
        if self._writer is None or self._drainer is None:
            return True
        deadline = time.monotonic() + timeout
        if not self._writer.wait_written(timeout):
            return False
        return self._drainer.wait_empty(max(0.0, deadline - time.monotonic()))

    def _open_spool(self, cfg: EventsConfig) -> None:
        assert cfg.spool_dir is not None
        self.spool = Spool(cfg.spool_dir)
        self._writer = SpoolWriter(self.spool, on_written=self._wake_drainer)
        self._route = SpoolRoute(self._writer.hand_over)
        self._drainer = SpoolDrainer(
            self.spool, self.conf, route=self._route, settle=self._writer.wait_written
        )
        if not self.spool.is_empty():  # an earlier process left records: new ones queue behind them
            self._route.to_spool("queued behind records spooled earlier")
        self._drainer.start()

    def _produce_with_spool(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Headers | None,
        on_delivery: DeliveryCallback | None,
        timestamp_ms: int,
    ) -> None:
        record = SpooledRecord(
            topic, value, key, headers or [], timestamp_ms or time.time_ns() // 1_000_000
        )
        started = time.monotonic()
        assert self._route is not None
        self._release_held()  # records held during a hand-back go to Kafka before this one
        if (
            not self._route.routing
            and topic not in self._known_topics
            and time.monotonic() >= self._skip_checks_until
        ):
            self._check_topic(topic)  # raises for a missing topic; marks the broker down on timeout
        if self._route.divert(record, on_delivery, started):
            return
        self._enqueue(
            topic,
            value,
            key,
            headers,
            record.timestamp_ms,
            partial(self._on_delivery_spooling, record, on_delivery, started),
            divert=(record, on_delivery, started),
        )

    def _release_held(self) -> None:
        """On the caller's thread: enqueue, in order, the records a finished hand-back released."""
        assert self._route is not None
        for record, on_delivery, started in self._route.take_released():
            if self._route.divert(record, on_delivery, started):
                continue  # the broker went away meanwhile: the rest follow into the spool, in order
            self._enqueue(
                record.topic,
                record.value,
                record.key,
                record.headers or None,
                record.timestamp_ms,
                partial(self._on_delivery_spooling, record, on_delivery, started),
                divert=(record, on_delivery, started),
            )

    def _serve_spool(self) -> int:
        """On the caller's thread: spool what an outage left queued, release what a hand-back held,
        and report spooled records."""
        assert self._writer is not None
        self._release_held()
        if self._purge_queued:
            self._purge_queued = False
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.poll(0)
        reports = self._writer.take_reports()
        for callback, delivery in reports:
            if delivery.spooled:
                self._failures.warn(
                    "delivery deferred (spooled)", delivery.topic, delivery.error or ""
                )
            else:
                self._failures.warn("delivery failed", delivery.topic, delivery.error or "")
            if callback is not None:
                callback(delivery)
        return len(reports)

    def _mark_unreachable(self, reason: str) -> None:
        self._skip_checks_until = time.monotonic() + UNREACHABLE_RECHECK_S
        if self._route is None or self._drainer is None:
            return
        if self._route.to_spool(f"broker unreachable: {reason}"):
            log.warning(
                "Kafka unreachable (%s): new records go to the spool %s until it answers",
                reason,
                self.spool.path if self.spool is not None else "?",
            )
        self._drainer.wake()

    def _wake_drainer(self) -> None:
        if self._drainer is not None:
            self._drainer.wake()

    def _on_delivery_spooling(
        self,
        record: SpooledRecord,
        callback: DeliveryCallback | None,
        started: float,
        err: KafkaError | None,
        msg: Message,
    ) -> None:
        self._queued -= 1
        if err is None or is_permanent(err):
            self._report(record.topic, callback, err, msg)
            return
        record.reason = describe(err, record.topic, self.timeout_ms)
        self._mark_unreachable(record.reason)
        assert self._writer is not None
        self._writer.hand_over(record, callback, started)
