"""Prometheus metrics of the event producer: what was accepted, delivered, failed or spooled.

Metrics (all documented in docs/metrics.md, exposed in the Prometheus text format):

- ``carbonplane_events_produced_total{topic,event_type}``   events the library accepted (validated)
- ``carbonplane_events_delivered_total{topic,event_type}``  events the backend acknowledged
- ``carbonplane_events_failed_total{topic,event_type,reason}`` events that will never be delivered;
  ``reason`` is one of ``FAILURE_REASONS``
- ``carbonplane_events_spooled_total{topic}``              events written to the disk spool
- ``carbonplane_event_delivery_seconds{topic}``            produce -> acknowledgement latency
- ``carbonplane_events_pending``                           events handed to the backend, not yet
  reported (summed over the producers that share the registry)

The produce path counts every event, so recording must cost far less than producing: counts live
in plain dicts behind one lock (a dict update, no per-sample objects), and a custom collector turns
them into metric families only when Prometheus scrapes. Invariants: one store per registry, shared
by every ``ProducerMetrics`` on it (several producers in one process add up instead of failing on
duplicate registration); a reason outside ``FAILURE_REASONS`` is a programming error (ValueError).
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

FAILURE_REASONS: frozenset[str] = frozenset(
    {"validation", "delivery", "backpressure", "unknown_topic"}
)

# 0.5 ms (an embedded-log append) .. 30 s (a broker outage riding on retries).
DELIVERY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class _Store(Collector):
    """The counts of one registry, and the collector that exposes them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.produced: dict[tuple[str, str], int] = {}
        self.delivered: dict[tuple[str, str], int] = {}
        self.failed: dict[tuple[str, str, str], int] = {}
        self.spooled: dict[str, int] = {}
        self.latency: dict[
            str, list[float]
        ] = {}  # topic -> per-bucket counts (+Inf last), then sum
        self.pending = 0

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            produced, delivered = dict(self.produced), dict(self.delivered)
            failed, spooled = dict(self.failed), dict(self.spooled)
            latency = {t: list(v) for t, v in self.latency.items()}
            pending = self.pending
        fam = CounterMetricFamily(
            "carbonplane_events_produced",
            "Events accepted (validated) by the producer library.",
            labels=("topic", "event_type"),
        )
        for labels, n in produced.items():
            fam.add_metric(labels, n)
        yield fam
        fam = CounterMetricFamily(
            "carbonplane_events_delivered",
            "Events acknowledged by the backend (broker or local log).",
            labels=("topic", "event_type"),
        )
        for labels, n in delivered.items():
            fam.add_metric(labels, n)
        yield fam
        fam = CounterMetricFamily(
            "carbonplane_events_failed",
            "Events that will not be delivered, by reason: validation, delivery, backpressure, "
            "unknown_topic.",
            labels=("topic", "event_type", "reason"),
        )
        for labels, n in failed.items():
            fam.add_metric(labels, n)
        yield fam
        fam = CounterMetricFamily(
            "carbonplane_events_spooled",
            "Events written to the disk spool while the backend was unreachable.",
            labels=("topic",),
        )
        for topic, n in spooled.items():
            fam.add_metric((topic,), n)
        yield fam
        hist = HistogramMetricFamily(
            "carbonplane_event_delivery_seconds",
            "Seconds from produce() to the backend's acknowledgement.",
            labels=("topic",),
        )
        for topic, counts in latency.items():
            buckets, running = [], 0.0
            for bound, n in zip((*DELIVERY_BUCKETS, float("inf")), counts):
                running += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            hist.add_metric((topic,), buckets, counts[-1])
        yield hist
        yield GaugeMetricFamily(
            "carbonplane_events_pending",
            "Events handed to the backend and not yet acknowledged or failed.",
            value=pending,
        )


_lock = threading.RLock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Store] = weakref.WeakKeyDictionary()


def _store_for(registry: CollectorRegistry) -> _Store:
    with _lock:
        store = _by_registry.get(registry)
        if store is None:
            store = _by_registry[registry] = _Store()
            registry.register(store)
        return store


class ProducerMetrics:
    """The producer's metrics on ``registry`` (the process-wide default registry unless given)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self._s = _store_for(registry)
        self._pending = 0

    def produced(self, topic: str, event_type: str, n: int = 1) -> None:
        """``n`` events were validated and handed to the backend."""
        s, key = self._s, (topic, event_type)
        with s.lock:
            s.produced[key] = s.produced.get(key, 0) + n

    def delivered(self, topic: str, event_type: str, seconds: float) -> None:
        """The backend acknowledged one event ``seconds`` after it was produced."""
        self.delivered_many(topic, event_type, [seconds])

    def delivered_many(self, topic: str, event_type: str, seconds: list[float]) -> None:
        """The backend acknowledged ``len(seconds)`` events of one kind, with these latencies.

        The latencies are sorted once and each bucket's count found by bisection, so recording costs
        a C sort per batch rather than Python work per event."""
        if not seconds:
            return
        ordered = sorted(seconds)
        per_bucket, below = [], 0
        for bound in DELIVERY_BUCKETS:  # "le" buckets: a latency equal to a bound belongs to it
            upto = bisect.bisect_right(ordered, bound)
            per_bucket.append(upto - below)
            below = upto
        per_bucket.append(len(ordered) - below)  # +Inf
        s, key = self._s, (topic, event_type)
        with s.lock:
            s.delivered[key] = s.delivered.get(key, 0) + len(ordered)
            counts = s.latency.get(topic)
            if counts is None:
                counts = s.latency[topic] = [0.0] * (len(DELIVERY_BUCKETS) + 2)
            for i, n in enumerate(per_bucket):
                counts[i] += n
            counts[-1] += sum(ordered)

    def failed(self, topic: str, event_type: str, reason: str) -> None:
        """One event will not be delivered; ``reason`` is one of ``FAILURE_REASONS``."""
        if reason not in FAILURE_REASONS:
            raise ValueError(
                f"unknown failure reason {reason!r} for carbonplane_events_failed_total; "
                f"use one of {sorted(FAILURE_REASONS)}"
            )
        s, key = self._s, (topic, event_type, reason)
        with s.lock:
            s.failed[key] = s.failed.get(key, 0) + 1

    def spooled(self, topic: str) -> None:
        """One event was written to the disk spool to be delivered later."""
        s = self._s
        with s.lock:
            s.spooled[topic] = s.spooled.get(topic, 0) + 1

    def set_pending(self, n: int) -> None:
        """This producer has ``n`` events in flight (handed to the backend, not yet reported).

        The gauge is the sum over every producer sharing the registry: each one adds its change.
        """
        delta, self._pending = n - self._pending, n
        if delta:
            with self._s.lock:
                self._s.pending += delta


_default: ProducerMetrics | None = None


def default_metrics() -> ProducerMetrics:
    """The process-wide instance on the default registry, shared by every producer."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = ProducerMetrics(REGISTRY)
    return _default


def serve_metrics(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> WSGIServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread; ``port=0`` picks a free port.

    Returns the server: ``server.server_address[1]`` is the bound port; ``server.shutdown()`` then
    ``server.server_close()`` stop it and release the port.
    """
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot serve metrics on {addr}:{port}: {exc.strerror}; "
            "choose another port or stop the process using it",
        ) from None
    return server
