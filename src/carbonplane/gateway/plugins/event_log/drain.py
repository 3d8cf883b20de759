"""Finished requests in, ``AuditAPICallEvent``s out: the event-log plugin's producer thread.

The event producer applies back-pressure (a full Kafka queue or a busy local log makes
``produce`` wait), which must never reach the event loop. So the log phase only appends the
finished request's context to a bounded deque (``offer``: a length check and an append); one
daemon thread per process takes them out, builds and produces the events through the
process's ``EventProducer`` (``PluginServices.producer()``, made on first use in that thread),
and absorbs any waiting. A full deque drops the new request and counts it.

The thread wakes when 64 requests are waiting or every ``WAKE_S`` seconds, produces in chunks
of 32 and releases the GIL between chunks (``time.sleep(0)``) so the event loop is never held
up for long. Counters: ``produced`` (handed to the producer), ``dropped`` (deque full),
``failed`` (no producer, or the event did not validate).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("carbonplane.gateway.plugins.event_log")

WAKE_S = 0.05
WAKE_AT = 64
CHUNK = 32


class AuditDrain:
    """One process's queue and producer thread (see the module docstring)."""

    def __init__(
        self,
        producer_factory: Callable[[], Any] | None,
        build: Callable[[Any, Any], dict[str, Any]],
    ) -> None:
        self._factory = producer_factory
        self._build = build
        self._items: deque[tuple[Any, Any]] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0
        self._producer: Any = None
        self._thread: threading.Thread | None = None
        self._last_error = 0.0
        self.produced = self.dropped = self.failed = 0

    def offer(self, settings: Any, ctx: Any, limit: int) -> bool:
        """Queue one finished request (event-loop thread); False when it was dropped."""
        items = self._items
        if len(items) >= limit:
            self.dropped += 1
            return False
        items.append((settings, ctx))
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="event-log producer", daemon=True
            )
            self._thread.start()
        if len(items) >= WAKE_AT:
            self._wake.set()
        return True

    def pending(self) -> int:
        return len(self._items) + self._busy

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued request was produced (or failed); False on timeout."""
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(lambda: not self._items and not self._busy, timeout)

    def _run(self) -> None:
        items = self._items
        while True:
            self._wake.wait(WAKE_S)
            self._wake.clear()
            while items:
                with self._idle:
                    self._busy = min(CHUNK, len(items))
                    chunk = [items.popleft() for _ in range(self._busy)]
                for settings, ctx in chunk:
                    self._produce(settings, ctx)
                with self._idle:
                    self._busy = 0
                    self._idle.notify_all()
                time.sleep(0)  # let the event loop take the GIL between chunks
            with self._idle:
                self._idle.notify_all()

    def _produce(self, settings: Any, ctx: Any) -> None:
        try:
            if self._producer is None:
                if self._factory is None:
                    raise RuntimeError("no event producer is configured in this process")
                self._producer = self._factory()
            self._producer.produce_api_call_event(**self._build(settings, ctx))
            self.produced += 1
        except Exception as exc:  # EventValidationError, producer errors: counted, never raised
            self.failed += 1
            now = time.monotonic()
            if now - self._last_error >= 10.0:
                self._last_error = now
                log.error(
                    "event-log: could not produce an AuditAPICallEvent: %s (%d failed so far)",
                    exc,
                    self.failed,
                )
