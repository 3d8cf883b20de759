"""The event-log handler (carbonplane's own plugin, PRIORITY 6): one ``AuditAPICallEvent`` per
request, on the ``audit-api-calls`` topic, produced through the event library off the loop.

``on_log`` only offers the finished request to the process's ``AuditDrain`` (``drain.py``);
the producer thread builds the event:

- ``service``: the service's name (or host), ``none`` when no route matched;
- ``endpoint``: per ``config.endpoint`` (route path by default), never with a query string;
- ``method``, ``statusCode`` (499 when the client left before any response: nginx's code),
  ``latencyMs`` (first byte in -> last byte out), ``requestSizeBytes`` / ``responseSizeBytes``
  (head + body, as the log record's sizes);
- ``userId``: the consumer's username, else its custom_id, else its id; ``apiKeyId``: the
  credential's id - never the key or secret itself; ``ipAddress``: the client IP as the engine
  resolved it (trusted proxies);
- ``errorMessage`` for statuses >= 500: the engine's reason when it has one (connect failure,
  timeout), else who answered with which status.

Metrics (``carbonplane_event_log_{produced,dropped,failed}_total``) go to the worker's registry
(``PluginServices.registry``) and to the prometheus plugin's host totals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from carbonplane.gateway.plugins.event_log.drain import AuditDrain
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.pdk.log_serializer import head_size
from carbonplane.gateway.plugins.prometheus.handler import worker_metrics
from carbonplane.proxy.app import RequestContext

PRODUCED = "carbonplane_event_log_produced_total"
DROPPED = "carbonplane_event_log_dropped_total"
FAILED = "carbonplane_event_log_failed_total"
_drains: dict[int, tuple[Any, AuditDrain]] = {}
_registries: set[int] = set()


def event_fields(endpoint_mode: str, ctx: RequestContext) -> dict[str, Any]:
    """The keyword arguments of ``EventProducer.produce_api_call_event`` for a finished request."""
    req, resp = ctx.request, ctx.response
    service, route = ctx.vars.get("service"), ctx.vars.get("route")
    status = resp.status if resp is not None else 0
    consumer, credential = ctx.vars.get("consumer"), ctx.vars.get("credential")
    finished = ctx.finished or ctx.started
    fields: dict[str, Any] = {
        "service": ((service.get("name") or service.get("host")) if service else None) or "none",
        "endpoint": _endpoint(endpoint_mode, ctx, route),
        "method": req.method.decode("latin-1"),
        "status_code": status or 499,
        "latency_ms": round(max(0.0, finished - ctx.started) * 1000, 3),
        "request_size": head_size(len(req.method) + len(req.target) + 11, req.headers)
        + ctx.request_bytes,
        "response_size": (head_size(17, resp.headers) + ctx.response_bytes)
        if resp is not None
        else 0,
        "ip_address": ctx.client_ip or "unknown",
    }
    if consumer:
        fields["user_id"] = (
            consumer.get("username") or consumer.get("custom_id") or consumer.get("id")
        )
    if credential and credential.get("id"):
        fields["api_key_id"] = credential["id"]
    if status >= 500 or status == 0:
        who = "upstream" if ctx.source == "upstream" else "gateway"
        fields["error_message"] = ctx.error or (
            f"{who} answered {status}" if status else "no response"
        )
    return fields


def _endpoint(mode: str, ctx: RequestContext, route: Any) -> str:
    if mode == "route_path" and route:
        paths = route.get("paths") or ()
        if paths:
            return paths[0]
    if mode == "upstream_path" and ctx.decision is not None:
        return ctx.upstream_target.split(b"?", 1)[0].decode("latin-1") or "/"
    return ctx.request.path.decode("latin-1") or "/"


def drain_for(services: PluginServices) -> AuditDrain:
    """The process's drain for this services' producer (one thread per producer)."""
    key = id(services.producer)
    found = _drains.get(key)
    if found is None or found[0] is not services.producer:
        found = _drains[key] = (services.producer, AuditDrain(services.producer, event_fields))
    return found[1]


class _Collector:
    """Exposes a drain's counters in a prometheus_client registry at scrape time."""

    def __init__(self, drain: AuditDrain) -> None:
        self.drain = drain

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        d = self.drain
        for name, value, text in (
            ("carbonplane_event_log_produced", d.produced, "Audit events handed to the producer."),
            (
                "carbonplane_event_log_dropped",
                d.dropped,
                "Audit events dropped: the queue was full.",
            ),
            ("carbonplane_event_log_failed", d.failed, "Audit events that could not be produced."),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily(
            "carbonplane_event_log_pending", "Requests waiting for the producer.", value=d.pending()
        )


class Handler(PluginHandler):
    NAME = "event-log"
    PRIORITY = 6
    VERSION = "1.0.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.endpoint = config["endpoint"]
        self.limit = int(config["queue_size"])
        self.drain = drain_for(services)
        self.metrics = worker_metrics(services)
        registry = services.registry
        if registry is not None and id(registry) not in _registries:
            _registries.add(id(registry))
            registry.register(_Collector(self.drain))

    def on_log(self, ctx: RequestContext) -> None:
        drain = self.drain
        drain.offer(self.endpoint, ctx, self.limit)
        extra = self.metrics.extra  # the host totals see this process's counts at the next publish
        extra[DROPPED] = drain.dropped
        extra[PRODUCED] = drain.produced
        extra[FAILED] = drain.failed
        self.metrics.changed()
