"""Where the Kafka producer sends a new record when the spool is on: Kafka, the spool, or a hold.

``SpoolRoute`` is the one switch between the producer's thread (``divert``, ``to_spool``,
``take_released``) and the drainer's (``begin_hold``, ``finish_hold``, ``abort_hold``). States:

- ``DIRECT``: new records go to Kafka (``divert`` returns False).
- ``SPOOL``: new records are handed to the spool writer (broker unreachable, or a backlog to queue
  behind).
- ``HOLD``: the hand-back to Kafka. The backlog is small and the drainer is re-sending its tail;
  new records wait in memory (not reported yet) until it is acknowledged. Then ``finish_hold``
  releases them in order: state ``RELEASE``.
- ``RELEASE``: the tail is acknowledged; held records, and new ones behind them, wait for the
  producer's thread, which takes them all (``take_released``) and enqueues them to Kafka; taking
  them is what switches the state to ``DIRECT``, under the same lock, so no record can reach Kafka
  ahead of a released one. If the tail fails (outage again, or it takes too long), ``abort_hold``
  hands the held records to the spool writer instead, in order, behind the tail.

Invariants: every record ``divert`` accepts is, exactly once, either handed to the writer or
released; records leave in the order they came (a hold is only ever emptied whole, into the writer
or into ``released``, under the lock ``divert`` takes); ``divert`` refuses a record (the producer
sends it itself) only in ``DIRECT``, which only the producer's thread enters from ``RELEASE``,
after taking the released records. Every spooled record is acknowledged before the records held
behind it are released, so per-partition order holds across the switch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from carbonplane.events.backends.base import DeliveryCallback
from carbonplane.events.backends.spool import SpooledRecord

log = logging.getLogger("carbonplane.events.kafka")

Held = tuple[
    SpooledRecord, DeliveryCallback | None, float
]  # record, caller's callback, produce() time
DIRECT, SPOOL, HOLD, RELEASE = "direct", "spool", "hold", "release"


class SpoolRoute:
    """The producer's routing state; see the module docstring."""

    def __init__(
        self,
        hand_over: Callable[[SpooledRecord, DeliveryCallback | None, float], None],
        *,
        max_held: int = 100_000,
    ) -> None:
        self._hand_over = hand_over  # SpoolWriter.hand_over
        self._lock = threading.Lock()
        self.state = DIRECT
        self.reason = ""
        self.max_held = max_held  # a hold this large is given up: its records go to the spool
        self._held: list[Held] = []
        self._released: list[Held] = []
        self.fatal: str | None = None  # the producer cannot send: never hand back to it
        self.handbacks = 0  # completed returns to direct delivery

    @property
    def routing(self) -> bool:
        """New records do not go straight to Kafka."""
        return self.state != DIRECT

    def __len__(self) -> int:
        """Records held or released whose report has not been given (they are in neither queue)."""
        return len(self._held) + len(self._released)

    def divert(
        self, record: SpooledRecord, callback: DeliveryCallback | None, started: float
    ) -> bool:
        """Producer's thread: take the record unless the state is DIRECT."""
        if self.state == DIRECT:
            return False
        with self._lock:
            if self.state == SPOOL:
                record.reason = self.reason
                self._hand_over(record, callback, started)
                return True
            if self.state == RELEASE:
                self._released.append((record, callback, started))
                return True
            if self.state == HOLD:
                if len(self._held) < self.max_held:
                    self._held.append((record, callback, started))
                    return True
                self._to_writer("the hand-back to Kafka held too many records")
                record.reason = self.reason
                self._hand_over(record, callback, started)
                return True
            return False

    def to_spool(self, reason: str) -> bool:
        """New records go to the spool (a hold is ended by its drainer); True when this switched."""
        with self._lock:
            if self.state != DIRECT:
                return False
            self.state, self.reason = SPOOL, reason
            return True

    def begin_hold(self) -> bool:
        """Drainer: the backlog is small; hold new records while the tail is re-sent."""
        with self._lock:
            if self.state != SPOOL or self.fatal:
                return False
            self.state = HOLD
            return True

    def finish_hold(self) -> bool:
        """Drainer: the spool is empty and acknowledged; release the held records (``RELEASE``)."""
        with self._lock:
            if self.state != HOLD:
                return False
            if self.fatal:
                self._to_writer(self.fatal)
                return False
            self._released += self._held
            self._held = []
            self.state = RELEASE
            self.handbacks += 1
            return True

    def abort_hold(self, reason: str) -> None:
        """Drainer (or close): the tail was not acknowledged; held records go to the spool, in
        order."""
        with self._lock:
            if self.state == HOLD:
                self._to_writer(reason)

    def take_released(self) -> list[Held]:
        """Producer's thread: records to enqueue to Kafka before any newer one; ends ``RELEASE``."""
        if self.state != RELEASE:
            return []
        with self._lock:
            released, self._released = self._released, []
            if self.state == RELEASE:
                self.state = DIRECT
        return released

    def spool_released(self, reason: str) -> None:
        """Close: released records not enqueued yet go to the spool instead."""
        with self._lock:
            for record, callback, started in self._released:
                record.reason = reason
                self._hand_over(record, callback, started)
            self._released = []
            if self.state == RELEASE:
                self.state, self.reason = SPOOL, reason

    def _to_writer(self, reason: str) -> None:
        """Under the lock: HOLD -> SPOOL, the held records handed to the writer first."""
        self.state, self.reason = SPOOL, reason
        for record, callback, started in self._held:
            record.reason = self.reason
            self._hand_over(record, callback, started)
        self._held = []
        log.info("hand-back to Kafka given up (%s): new records go to the spool again", reason)
