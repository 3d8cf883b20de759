"""Prometheus metrics of the event producer: what was accepted, delivered, failed or spooled.

Metrics (all documented in docs/metrics.md, exposed in the Prometheus text format):

- ``carbonplane_events_produced_total{topic,event_type}``   events the library accepted (validated)
- ``carbonplane_events_delivered_total{topic,event_type}``  events the backend acknowledged
- ``carbonplane_events_failed_total{topic,event_type,reason}`` events that will never be delivered;
  ``reason`` is one of ``FAILURE_REASONS``
- ``carbonplane_events_spooled_total{topic}``              events written to the disk spool
- ``carbonplane_event_delivery_seconds{topic}``            produce -> acknowledgement latency
- ``carbonplane_events_pending``                           events handed to the backend, not yet reported
  (summed over the producers that share the registry)

Invariants: the collectors of one registry are created once, however many ``ProducerMetrics`` use
that registry (several producers in one process share them instead of failing on duplicate
registration); label children are cached per label tuple, so the hot path is one dict lookup and
one locked increment; a reason outside ``FAILURE_REASONS`` is a programming error (ValueError).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

FAILURE_REASONS: frozenset[str] = frozenset({"validation", "delivery", "backpressure", "unknown_topic"})

# 0.5 ms (an embedded-log append) .. 30 s (a broker outage riding on retries).
DELIVERY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)


@dataclass(frozen=True, slots=True)
class _Collectors:
    produced: Counter
    delivered: Counter
    failed: Counter
    spooled: Counter
    latency: Histogram
    pending: Gauge


def _create_collectors(registry: CollectorRegistry) -> _Collectors:
    return _Collectors(
        produced=Counter(
            "carbonplane_events_produced", "Events accepted (validated) by the producer library.",
            ("topic", "event_type"), registry=registry),
        delivered=Counter(
            "carbonplane_events_delivered", "Events acknowledged by the backend (broker or local log).",
            ("topic", "event_type"), registry=registry),
        failed=Counter(
            "carbonplane_events_failed",
            "Events that will not be delivered, by reason: validation, delivery, backpressure, unknown_topic.",
            ("topic", "event_type", "reason"), registry=registry),
        spooled=Counter(
            "carbonplane_events_spooled", "Events written to the disk spool while the backend was unreachable.",
            ("topic",), registry=registry),
        latency=Histogram(
            "carbonplane_event_delivery_seconds", "Seconds from produce() to the backend's acknowledgement.",
            ("topic",), buckets=DELIVERY_BUCKETS, registry=registry),
        pending=Gauge(
            "carbonplane_events_pending", "Events handed to the backend and not yet acknowledged or failed.",
            registry=registry),
    )


_lock = threading.RLock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Collectors] = weakref.WeakKeyDictionary()


def _collectors_for(registry: CollectorRegistry) -> _Collectors:
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = _create_collectors(registry)
        return found


class ProducerMetrics:
    """The producer's metrics on ``registry`` (the process-wide default registry unless given)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self._c = _collectors_for(registry)
        self._produced: dict[tuple[str, str], object] = {}
        self._delivered: dict[tuple[str, str], object] = {}
        self._failed: dict[tuple[str, str, str], object] = {}
        self._spooled: dict[str, object] = {}
        self._latency: dict[str, object] = {}
        self._pending = 0

    def produced(self, topic: str, event_type: str) -> None:
        """One event was validated and handed to the backend."""
        child = self._produced.get((topic, event_type))
        if child is None:
            child = self._produced[(topic, event_type)] = self._c.produced.labels(topic, event_type)
        child.inc()  # type: ignore[attr-defined]

    def delivered(self, topic: str, event_type: str, seconds: float) -> None:
        """The backend acknowledged one event ``seconds`` after it was produced."""
        child = self._delivered.get((topic, event_type))
        if child is None:
            child = self._delivered[(topic, event_type)] = self._c.delivered.labels(topic, event_type)
        child.inc()  # type: ignore[attr-defined]
        hist = self._latency.get(topic)
        if hist is None:
            hist = self._latency[topic] = self._c.latency.labels(topic)
        hist.observe(seconds)  # type: ignore[attr-defined]

    def failed(self, topic: str, event_type: str, reason: str) -> None:
        """One event will not be delivered; ``reason`` is one of ``FAILURE_REASONS``."""
        key = (topic, event_type, reason)
        child = self._failed.get(key)
        if child is None:
            if reason not in FAILURE_REASONS:
                raise ValueError(
                    f"unknown failure reason {reason!r} for carbonplane_events_failed_total; "
                    f"use one of {sorted(FAILURE_REASONS)}")
            child = self._failed[key] = self._c.failed.labels(topic, event_type, reason)
        child.inc()  # type: ignore[attr-defined]

    def spooled(self, topic: str) -> None:
        """One event was written to the disk spool to be delivered later."""
        child = self._spooled.get(topic)
        if child is None:
            child = self._spooled[topic] = self._c.spooled.labels(topic)
        child.inc()  # type: ignore[attr-defined]

    def set_pending(self, n: int) -> None:
        """This producer has ``n`` events in flight (handed to the backend, not yet reported).

        The gauge is the sum over every producer sharing the registry: each one adds its change.
        """
        delta, self._pending = n - self._pending, n
        if delta:
            self._c.pending.inc(delta)


_default: ProducerMetrics | None = None


def default_metrics() -> ProducerMetrics:
    """The process-wide instance on the default registry, shared by every producer."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = ProducerMetrics(REGISTRY)
    return _default


def serve_metrics(port: int, addr: str = "127.0.0.1",
                  registry: CollectorRegistry = REGISTRY) -> WSGIServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread; ``port=0`` picks a free port.

    Returns the server: ``server.server_address[1]`` is the bound port; ``server.shutdown()`` then
    ``server.server_close()`` stop it and release the port.
    """
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot serve metrics on {addr}:{port}: {exc.strerror}; "
                                 "choose another port or stop the process using it") from None
    return server
