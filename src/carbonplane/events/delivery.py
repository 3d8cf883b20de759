"""What became of produced events: the per-event future, the producer's tally, and a flush's result.

``Tally`` holds one producer's counts behind one lock: totals for ``get_stats``, counts since the
last flush, and per flow (topic, event type) the produced counts and delivery latencies not yet
handed to the metrics. ``DeliveryFuture`` is the backend's delivery callback for one event: it
counts the outcome in the tally as it arrives and builds its ``Delivery`` only when someone asks for
it.

Hot path: every produced event creates a future and, on success, takes the tally's lock once; the
metrics receive produced counts and latencies in batches (``Tally.take_unpublished``).

Invariant: every event handed to the backend is counted exactly once as delivered, failed or
spooled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carbonplane.errors import DeliveryError
from carbonplane.events.backends.base import Delivery, ReportSink

UserCallback = Callable[[Delivery], None]


class Flow:
    """The events of one (topic, event type): counts not yet published to the metrics."""

    __slots__ = ("topic", "event_type", "produced", "latencies")

    def __init__(self, topic: str, event_type: str) -> None:
        self.topic = topic
        self.event_type = event_type
        self.produced = 0
        self.latencies: list[float] = []


class Tally:
    """One producer's counts (see the module docstring); every field is guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.produced = self.delivered = self.errors = self.spooled = self.rejected = 0
        self.reported_ok = 0  # successes a backend handed straight to DeliveryFuture.report
        self.since_flush = [0, 0, 0]  # delivered, failed, spooled
        self.recent_errors: list[str] = []  # the first failure reasons since the last flush
        self.flows: dict[tuple[str, str], Flow] = {}

    def flow(self, topic: str, event_type: str) -> Flow:
        flow = self.flows.get((topic, event_type))
        if flow is None:
            with self.lock:
                flow = self.flows.setdefault((topic, event_type), Flow(topic, event_type))
        return flow

    def success(self, flow: Flow, latency_s: float, direct: bool = False) -> None:
        """A delivered event; ``direct``: reported through ``DeliveryFuture.report``."""
        with self.lock:
            self.delivered += 1
            self.reported_ok += direct
            self.since_flush[0] += 1
            flow.latencies.append(latency_s)

    def failure(self, delivery: Delivery) -> None:
        """A failed or spooled event."""
        with self.lock:
            if delivery.spooled:
                self.spooled += 1
                self.since_flush[2] += 1
            else:
                self.errors += 1
                self.since_flush[1] += 1
                if len(self.recent_errors) < 20:
                    self.recent_errors.append(f"{delivery.topic}: {delivery.error}")

    def take_unpublished(self) -> list[tuple[Flow, int, list[float]]]:
        """Per flow, the produced count and the latencies gathered since the previous call."""
        out = []
        with self.lock:
            for flow in self.flows.values():
                if flow.produced or flow.latencies:
                    out.append((flow, flow.produced, flow.latencies))
                    flow.produced, flow.latencies = 0, []
        return out

    def take_since_flush(self) -> tuple[int, int, int, list[str]]:
        """(delivered, failed, spooled, error reasons) since the previous call."""
        with self.lock:
            (delivered, failed, spooled), errors = self.since_flush, self.recent_errors
            self.since_flush, self.recent_errors = [0, 0, 0], []
        return delivered, failed, spooled, errors


class DeliveryFuture(ReportSink):
    """The outcome of one produced event; ``result()`` drives the producer's callbacks while
    waiting.

    It is the backend's delivery callback (an ``AckSink``, and a ``ReportSink`` for backends that
    take one): a success is counted at once and its ``Delivery`` is built only when someone asks for
    it."""

    __slots__ = ("_owner", "_flow", "_callback", "_outcome", "_event_id")

    def __init__(
        self, owner: Any, flow: Flow, callback: UserCallback | None, event_id: bytes = b""
    ) -> None:
        # owner: the EventProducer (its ``poll``, ``_tally``, ``_account_failure`` and
        # ``_report_failure``)
        self._owner = owner
        self._flow = flow
        self._callback = callback
        self._event_id = event_id  # the ce_id header's value, decoded only when asked for
        # None while pending; then a Delivery, or a success not yet built into one: the tuple
        # (partition, offset, latency_s) given to ``acked``, or the librdkafka message given to
        # ``report``.
        self._outcome: Any = None

    @property
    def topic(self) -> str:
        return self._flow.topic

    @property
    def event_type(self) -> str:
        return self._flow.event_type

    @property
    def event_id(self) -> str:
        """The ``eventId`` (= ``ce_id``) the event was sent with: the caller's, or the one generated
        for this produce (the caller's event object is not changed)."""
        return self._event_id.decode()

    def done(self) -> bool:
        return self._outcome is not None

    def result(self, timeout: float | None = 30.0) -> Delivery:
        """The delivery, once acknowledged or safely spooled (``delivery.spooled``); raises
        DeliveryError if it failed, TimeoutError if still pending after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._outcome is None:
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"event to {self.topic!r} not acknowledged within {timeout} s")
            self._owner.poll(left)
        delivery = self._built()
        if delivery.error is not None and not delivery.spooled:
            raise DeliveryError(self.topic, delivery.error)
        return delivery

    def _built(self) -> Delivery:
        outcome = self._outcome
        if type(outcome) is Delivery:
            return outcome
        if type(outcome) is tuple:
            partition, offset, latency_s = outcome
        else:
            partition, offset, latency_s = (
                outcome.partition(),
                outcome.offset(),
                outcome.latency() or 0.0,
            )
        delivery = self._outcome = Delivery(self._flow.topic, partition, offset, None, latency_s)
        return delivery

    def __call__(self, delivery: Delivery) -> None:
        self._outcome = delivery
        if delivery.error is None:
            self._owner._tally.success(self._flow, delivery.latency_s)
        else:
            self._owner._account_failure(self, delivery)
        if self._callback is not None:
            self._callback(delivery)

    def acked(self, partition: int, offset: int, latency_s: float) -> None:
        """A success, counted like any other, without building a Delivery."""
        self._outcome = (partition, offset, latency_s)
        self._owner._tally.success(self._flow, latency_s)
        if self._callback is not None:
            self._callback(self._built())

    def report(self, error: Any, message: Any) -> None:
        """librdkafka's report for this record, straight from the client (see
        ``base.ReportSink``)."""
        if error is not None:
            self._owner._report_failure(self, error, message)
            return
        self._outcome = message
        self._owner._tally.success(self._flow, message.latency() or 0.0, True)
        if self._callback is not None:
            self._callback(self._built())


@dataclass
class FlushResult:
    """What ``flush`` saw: ``remaining`` still pending; ``failed``/``spooled`` since the
    last flush."""

    remaining: int
    delivered: int = 0
    failed: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)  # the first few failure reasons

    @property
    def ok(self) -> bool:
        return self.remaining == 0 and self.failed == 0

    def __bool__(self) -> bool:
        return self.ok


__all__ = ["DeliveryFuture", "Flow", "FlushResult", "Tally", "UserCallback"]
