"""The drainer thread behind the Kafka producer's opt-in disk spool (``SpoolDrainer``).

Once the broker answers again, it re-sends spooled records in spool order through its own
idempotent producer and removes each only after Kafka acknowledged it. Records the broker refuses
for good (unknown topic, too large) move to the spool's ``dead`` table with the broker's error. Only
the process holding the spool's ``DrainLock`` re-sends; the others only append (through their
``kafka_spool.SpoolWriter``). Once the backlog is at most ``handback_backlog`` records, it hands the
producer back to Kafka (``kafka_route.SpoolRoute``): new records are held in memory, the tail is
re-sent and acknowledged, and only then are the held records released to the producer's own
queue. The hand-back does not wait for a moment when the spool happens to be empty, which under
sustained load may never come.

Guarantees: re-sending is at-least-once: a crash between Kafka's acknowledgement and the delete
sends a record twice (consumers deduplicate on ``ce_id``); a record leaves the spool only
acknowledged or buried in ``dead`` with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from carbonplane.events.backends.kafka_errors import (
    describe,
    is_permanent,
    is_unknown_topic,
    message_timeout_ms,
)
from carbonplane.events.backends.kafka_route import RELEASE, SpoolRoute
from carbonplane.events.backends.spool import DrainLock, Spool, SpooledRecord

log = logging.getLogger("carbonplane.events.kafka")

# With a spool, producers reconnect within a second of the broker's return (librdkafka's default
# backoff grows to 10 s): the drainer starts sooner, and the hand-back finds its producer connected.
RECONNECT = {"reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 1000}


class SpoolDrainer:
    """Re-sends spooled records once the broker answers; see the module docstring."""

    MIN_BACKOFF, MAX_BACKOFF, IDLE_CHECK = 0.5, 5.0, 1.0

    def __init__(
        self,
        spool: Spool,
        conf: dict[str, Any],
        *,
        route: SpoolRoute,
        settle: Callable[[float], bool],
        batch_size: int = 1000,
        handback_backlog: int = 1000,
        probe_timeout: float = 2.0,
    ) -> None:
        self.spool = spool
        self.conf = {
            **RECONNECT,
            **conf,
            "client.id": f"{conf.get('client.id', 'carbonplane')}-spool",
        }
        self.conf["error_cb"] = self._on_error
        self.timeout_s = message_timeout_ms(conf) / 1000.0
        self._route = route  # the producer's routing: the drainer hands it back to Kafka
        self._settle = settle  # SpoolWriter.wait_written: records handed over are on disk
        self.batch_size = batch_size
        self.handback_backlog = handback_backlog
        self.probe_timeout = probe_timeout
        self.lock = DrainLock(spool.directory)
        self.drained = 0
        self.buried = 0
        self.broker_up: bool | None = None  # unknown until the first probe
        self._acked_last = (
            False  # the last batch was acknowledged: the broker answers, no probe needed
        )
        self._producer: Producer | None = None
        self._verified: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()  # notified after every drained batch
        self._thread = threading.Thread(
            target=self._run, name="carbonplane-spool-drainer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def wait_empty(self, timeout: float) -> bool:
        """Wait until the spool holds no records (re-checked at least every second, since another
        process may be the one draining it); True when empty."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while not self.spool.is_empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 1.0))
        return True

    def _notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self.lock.release()

    def _run(self) -> None:
        backoff = self.MIN_BACKOFF
        try:
            while not self._stop.is_set():
                if not self._route.routing and self.spool.is_empty():
                    self._acked_last = False
                    self._sleep(self.IDLE_CHECK)
                    continue
                if (
                    self._route.state == RELEASE
                ):  # handed back; the producer's thread takes it from here
                    self._sleep(self.IDLE_CHECK)
                    continue
                if (
                    not self._acked_last and not self._probe()
                ):  # after an acknowledged batch: no probe
                    self._sleep(backoff)
                    backoff = min(2 * backoff, self.MAX_BACKOFF)
                    continue
                backoff = self.MIN_BACKOFF
                if self.spool.is_empty():
                    if self._route.routing:
                        self._hand_back()
                    self._sleep(0.05)
                elif not self.lock.try_acquire():
                    self._acked_last = False
                    self._sleep(self.IDLE_CHECK)  # another process drains this spool
                elif not self._drain_batch():
                    self._notify_progress()
                    self._sleep(backoff)
                else:
                    self._notify_progress()
                    if self._route.routing and len(self.spool) <= self.handback_backlog:
                        self._hand_back()
        except Exception:  # a drainer that dies silently would strand the spool: say so loudly
            log.exception(
                "the spool drainer stopped; spooled records stay in %s until the next start",
                self.spool.path,
            )
        finally:
            self._close_producer()

    def _hand_back(self) -> None:
        """Return the producer to direct delivery: hold new records, re-send the spool's tail, and
        release the held records once it is acknowledged (see ``kafka_route``)."""
        if not self._route.begin_hold():
            return
        deadline = time.monotonic() + self.timeout_s + 5.0
        ok = self._settle(self.timeout_s)  # records handed over before the hold are on disk
        rounds = 0
        while ok and not self.spool.is_empty():
            rounds += 1
            if (
                rounds > 3
                or self._stop.is_set()
                or time.monotonic() >= deadline
                or not self.lock.try_acquire()
            ):
                ok = False  # the tail keeps growing (other processes) or cannot be re-sent here
                break
            ok = self._drain_batch()
            self._notify_progress()
        if ok and self._route.finish_hold():
            log.info(
                "the spool %s is drained: producing directly to Kafka again (%d re-sent so far)",
                self.spool.path,
                self.drained,
            )
        else:
            self._route.abort_hold(
                "closing"
                if self._stop.is_set()
                else "the spool's tail was not re-sent and acknowledged in time"
            )

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _probe(self) -> bool:
        """True when the broker answers a metadata request."""
        producer = self._ensure_producer()
        try:
            producer.list_topics(timeout=self.probe_timeout)
        except KafkaException as exc:
            if self.broker_up is not False:
                log.warning(
                    "broker unreachable (%s); %d records wait in the spool %s",
                    exc.args[0].str() if exc.args else exc,
                    len(self.spool),
                    self.spool.path,
                )
            self.broker_up = False
            return False
        if self.broker_up is False:
            log.info("broker reachable again; draining the spool %s", self.spool.path)
        self.broker_up = True
        return True

    def _drain_batch(self) -> bool:
        """Re-send the oldest records; False when an outage error stopped the batch."""
        records = self.spool.peek(self.batch_size)
        missing = self._missing_topics({r.topic for r in records})
        sendable = []
        for r in records:
            if r.topic in missing:
                self._bury(r, missing[r.topic])
            else:
                sendable.append(r)
        outcomes: dict[int, KafkaError | None] = {}
        producer = self._ensure_producer()
        for r in sendable:
            self._send(producer, r, partial(_record_outcome, outcomes, r.id))
        deadline = time.monotonic() + self.timeout_s + 5.0
        while (
            len(outcomes) < len(sendable)
            and not self._stop.is_set()
            and time.monotonic() < deadline
        ):
            producer.poll(0.1)
        acked = [rid for rid, err in outcomes.items() if err is None]
        self.drained += self.spool.remove(acked)
        outage = None
        for r in sendable:
            err = outcomes.get(r.id)
            if err is not None and is_permanent(err):
                self._bury(r, describe(err, r.topic))
            elif err is not None:
                outage = err
        if acked and self.spool.is_empty():
            log.info("spool %s drained (%d records re-sent so far)", self.spool.path, self.drained)
        if outage is not None:
            log.warning(
                "re-sending spooled records failed (%s); retrying",
                describe(outage, "spool", int(self.timeout_s * 1000)),
            )
            self.broker_up, self._acked_last = False, False
            return False
        self._acked_last = len(outcomes) == len(sendable)  # else some are unanswered: not a success
        return self._acked_last

    def _send(self, producer: Producer, r: SpooledRecord, on_delivery: Callable[..., None]) -> None:
        while True:
            try:
                producer.produce(
                    r.topic,
                    r.value,
                    r.key,
                    headers=r.headers or None,
                    timestamp=r.timestamp_ms,
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                producer.poll(0.1)

    def _missing_topics(self, topics: set[str]) -> dict[str, str]:
        """Topics of the batch the broker says do not exist, with the error to bury their records
        with."""
        missing: dict[str, str] = {}
        for topic in topics - self._verified:
            try:
                meta = (
                    self._ensure_producer()
                    .list_topics(topic, timeout=self.probe_timeout)
                    .topics.get(topic)
                )
            except KafkaException:
                continue  # the send will tell
            if meta is not None and meta.error is not None and is_unknown_topic(meta.error):
                missing[topic] = describe(meta.error, topic)
            elif meta is not None and meta.error is None:
                self._verified.add(topic)
        return missing

    def _bury(self, r: SpooledRecord, error: str) -> None:
        self.spool.bury(r.id, error)
        self.buried += 1
        log.error(
            "spooled record %d for %r cannot be delivered and was moved to the spool's dead "
            "table: %s",
            r.id,
            r.topic,
            error,
        )

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.conf)
        return self._producer

    def _close_producer(self) -> None:
        if self._producer is not None:
            # un-acked records stay in the spool; the next drainer re-sends them
            self._producer.purge()
            self._producer.poll(0)
            self._producer = None

    def _on_error(self, err: KafkaError) -> None:
        log.debug("spool drainer: %s", err)


def _record_outcome(
    outcomes: dict[int, KafkaError | None], record_id: int, err: KafkaError | None, _msg: Any
) -> None:
    outcomes[record_id] = err
