"""What the framework-integration tests share: the backend under test, one HTTP request, waits.

``Backend`` holds an events config, its audit and health topics, the emitter's producer factory and
``read(topic, n)`` (the records read back through the library's own reader, decoded, headers as
text). ``get`` sends one HTTP/1.1 request with http.client and returns status, body and seconds.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from carbonplane.events.backends.factory import open_reader
from carbonplane.events.codec import decode_event
from carbonplane.events.config import EventsConfig
from carbonplane.events.envelope import headers_dict
from carbonplane.events.producer import EventProducer


@dataclass
class Backend:
    cfg: EventsConfig
    audit_topic: str
    health_topic: str

    def factory(self, service: str) -> Callable[[], EventProducer]:
        return lambda: EventProducer(source_service=service, config=self.cfg)

    def read(self, topic: str, n: int, timeout: float = 20.0) -> list[tuple[Any, dict[str, str]]]:
        """At least ``n`` records of ``topic`` (all partitions, from the start), decoded; fails
        after ``timeout`` seconds with what it found."""
        reader = open_reader(self.cfg)
        deadline = time.monotonic() + timeout
        found: list[tuple[Any, dict[str, str]]] = []
        try:
            while True:
                found = []
                for partition in reader.partitions(topic):
                    low, high = reader.watermarks(topic, partition)
                    if high <= low:
                        continue
                    for record in reader.read(topic, partition, low, high - low, timeout=2.0):
                        found.append((decode_event(record.value), headers_dict(record.headers)))
                if len(found) >= n or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            reader.close()
        assert len(found) >= n, f"{len(found)} records on {topic} within {timeout} s, wanted {n}"
        return found


def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None
) -> tuple[int, bytes, float]:
    """One request; ``(status, body, seconds)``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    start = time.perf_counter()
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - start
    finally:
        conn.close()


def wait_idle(emitter: Any, timeout: float = 10.0) -> None:
    """Until the emitter's queue is empty (its thread took every call)."""
    deadline = time.monotonic() + timeout
    while emitter.stats()["queued"] and time.monotonic() < deadline:
        time.sleep(0.02)


VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def wait_submitted(emitter: Any, n: int, timeout: float = 10.0) -> None:
    """Until ``n`` calls were submitted: a WSGI server records at ``close()``, which it calls after
    the client already has the response."""
    deadline = time.monotonic() + timeout
    while emitter.stats()["submitted"] < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emitter.stats()["submitted"] == n, emitter.stats()
