"""SecurityEvents and ServiceHealthEvents from the sidecar, never on the request path.

``EventSink.emit(event)`` appends to a bounded queue and returns at once; one daemon thread
builds the producer lazily (``get_event_producer``: the embedded log by default, Kafka when the
environment says so) and produces from the queue. A full queue drops the event and counts it
(``dropped``); a failing backend is counted (``failed``), logged once per minute, never raised.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

log = logging.getLogger("carbonplane.mesh.sidecar.events")


class EventSink:
    def __init__(
        self,
        source: str,
        *,
        capacity: int = 10000,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.source = source
        self._queue: queue.Queue = queue.Queue(capacity)
        self._factory = producer_factory
        self.emitted = self.produced = self.dropped = self.failed = 0
        self.by_kind: dict[str, int] = {}
        self._last_log = 0.0
        self._thread = threading.Thread(target=self._run, name="mesh-events", daemon=True)
        self._thread.start()

    def emit(self, event: Any) -> None:
        kind = getattr(event, "category", None) or type(event).__name__
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        self.emitted += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def security(
        self,
        category: str,
        severity: str,
        resource: str,
        *,
        principal: str | None = None,
        source_ip: str | None = None,
        **details: str,
    ) -> None:
        try:
            from carbonplane.events import SecurityEvent

            fields: dict[str, Any] = {
                "category": category,
                "severity": severity,
                "resource": resource,
                "details": {k: str(v) for k, v in details.items()},
            }
            if principal:
                fields["principal"] = principal
            if source_ip:
                fields["source_ip"] = source_ip
            self.emit(SecurityEvent(**fields))
        except Exception as exc:  # a malformed event must not break a request
            self._failure(exc)

    def health(self, service: str, namespace: str, status: str, message: str) -> None:
        try:
            from carbonplane.events import ServiceHealthEvent

            self.emit(
                ServiceHealthEvent(
                    service_name=service,
                    namespace=namespace,
                    health_status=status,
                    latency_ms=0.0,
                    error_rate=0.0,
                    message=message,
                )
            )
        except Exception as exc:
            self._failure(exc)

    def _failure(self, exc: Exception) -> None:
        self.failed += 1
        now = time.monotonic()
        if now - self._last_log > 60:
            self._last_log = now
            log.warning(
                "mesh sidecar: an event could not be produced (%d so far): %s", self.failed, exc
            )

    def _run(self) -> None:
        producer = None
        while True:
            event = self._queue.get()
            if event is None:
                break
            try:
                if producer is None:
                    if self._factory is not None:
                        producer = self._factory()
                    else:
                        from carbonplane.events import get_event_producer

                        producer = get_event_producer(self.source)
                producer.produce(event)
                self.produced += 1
            except Exception as exc:
                self._failure(exc)
        if producer is not None:
            try:
                producer.flush(5.0)
            except Exception as exc:
                self._failure(exc)

    def close(self, timeout: float = 5.0) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def stats(self) -> dict:
        return {
            "emitted": self.emitted,
            "produced": self.produced,
            "dropped": self.dropped,
            "failed": self.failed,
            "by_kind": dict(self.by_kind),
        }
