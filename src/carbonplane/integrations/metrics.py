"""Prometheus metrics of the framework integrations, read from the emitters at scrape time.

The request path only adds to plain integers on its ``Emitter``; ``EmitterCollector`` (registered
once in ``prometheus_client``'s default registry when the first emitter is made) sums them per
service when scraped, so recording costs no lock and no collector call per request.

Series (see docs/metrics.md): ``carbonplane_integration_calls_total{service, outcome}`` with
``outcome`` in submitted, sent, dropped_queue_full, dropped_error, and
``carbonplane_integration_queue_depth{service}``. Invariant: one series per (service, outcome)
however many emitters share a service; an emitter that was garbage-collected no longer counts.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("carbonplane.integrations")

OUTCOMES = ("submitted", "sent", "dropped_queue_full", "dropped_error")

_EMITTERS: list[weakref.ref] = []  # every Emitter of the process
_registered = False


def register(emitter: Any) -> None:
    """Count ``emitter`` in the exported series (registering the collector the first time)."""
    global _registered
    _EMITTERS.append(weakref.ref(emitter))
    if not _registered:
        _registered = True
        try:
            from prometheus_client import REGISTRY

            REGISTRY.register(EmitterCollector())
        except Exception as exc:  # metrics are an aid; never stop an application for them
            log.warning("carbonplane integration metrics not registered: %s", exc)


class EmitterCollector:
    """Prometheus collector over every live Emitter."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        calls = CounterMetricFamily(
            "carbonplane_integration_calls",
            "Requests recorded by the framework integrations, by outcome",
            labels=["service", "outcome"],
        )
        depth = GaugeMetricFamily(
            "carbonplane_integration_queue_depth",
            "Calls waiting for the integration's emitter thread",
            labels=["service"],
        )
        live = [e for ref in list(_EMITTERS) if (e := ref()) is not None]
        _EMITTERS[:] = [ref for ref in _EMITTERS if ref() is not None]
        totals: dict[str, dict[str, int]] = {}
        for e in live:
            t = totals.setdefault(e.settings.service, dict.fromkeys((*OUTCOMES, "queued"), 0))
            for name, n in e.stats().items():
                t[name] += n
        for service, t in totals.items():
            for outcome in OUTCOMES:
                calls.add_metric([service, outcome], t[outcome])
            depth.add_metric([service], t["queued"])
        yield calls
        yield depth
