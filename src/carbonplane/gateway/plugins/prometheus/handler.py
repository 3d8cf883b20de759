"""The prometheus handler (Kong's ``prometheus``, PRIORITY 13): per-request counts in the log phase.

``on_log`` (after the response was written) records, into the process's ``WorkerMetrics``, what
the instance's flags enable: the status count (``source`` "service" when the upstream answered,
else "kong"), the three latencies (kong = time in the gateway before the upstream was called, or
the whole time for gateway-made responses; upstream = request sent -> response head, only when
the upstream answered; request = first byte in -> last byte out), and the bytes in and out. The
labels are Kong's: service = the service's name or host, route = the route's name or id (both ""
when no route matched), workspace "default", consumer = the username with ``per_consumer``.

All instances of a process share one ``WorkerMetrics`` (Kong has one metrics table per node).
It publishes to ``<runtime dir>/prometheus`` when the gateway gives a runtime directory
(``services.runtime_dir``) so that ``exposition.render_host_metrics`` shows host
totals; ``worker_metrics(services)`` returns it for in-process rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.pdk.log_serializer import head_size
from carbonplane.gateway.plugins.prometheus.exposition import metrics_directory
from carbonplane.gateway.plugins.prometheus.store import (
    KONG_LATENCY_BUCKETS,
    UPSTREAM_LATENCY_BUCKETS,
    WorkerMetrics,
)
from carbonplane.proxy.app import RequestContext

WORKSPACE = "default"
_process_metrics: dict[str | None, WorkerMetrics] = {}


def worker_metrics(services: PluginServices) -> WorkerMetrics:
    """This process's metrics, publishing under the gateway's runtime directory if it has one."""
    directory = metrics_directory(services.runtime_dir) if services.runtime_dir else None
    found = _process_metrics.get(directory)
    if found is None:
        found = _process_metrics[directory] = WorkerMetrics(directory)
    return found


class Handler(PluginHandler):
    NAME = "prometheus"
    PRIORITY = 13
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.metrics = worker_metrics(services)
        self.status_codes = bool(config["status_code_metrics"])
        self.latency = bool(config["latency_metrics"])
        self.bandwidth = bool(config["bandwidth_metrics"])
        self.per_consumer = bool(config["per_consumer"])
        if config["upstream_health_metrics"]:
            self.metrics.upstream_health = True
        self._names: dict[tuple[int, int, str], _Series] = {}

    def on_log(self, ctx: RequestContext) -> None:
        m = self.metrics
        m.total_requests += 1
        if self.status_codes or self.latency or self.bandwidth:
            shared = ctx.vars
            consumer = ""
            if self.per_consumer:
                entity = shared.get("consumer")
                consumer = (entity.get("username") or "") if entity else ""
            series = self._series(shared.get("service"), shared.get("route"), consumer)
            if self.status_codes:
                key = series.status_key(ctx.status, ctx.source == "upstream")
                requests = m.requests
                requests[key] = requests.get(key, 0) + 1
            if self.latency:
                self._latencies(m, series.latency_key, ctx)
            if self.bandwidth:
                self._bytes(m, series, ctx)
        m.changed()

    def close(self) -> None:
        """The config version retires: publish what this process counted so far."""
        if self.metrics.directory is not None:
            self.metrics.publish()

    def _series(self, service: Any, route: Any, consumer: str) -> _Series:
        """The label tuples of a (service, route, consumer), built once per entity objects."""
        key = (id(service), id(route), consumer)
        found = self._names.get(key)
        if found is None or found.service is not service or found.route is not route:
            service_name = (service.get("name") or service.get("host") or "") if service else ""
            route_name = (route.get("name") or route.get("id") or "") if route else ""
            if len(self._names) > 10_000:
                self._names.clear()
            found = self._names[key] = _Series(service, route, service_name, route_name, consumer)
        return found

    @staticmethod
    def _latencies(m: WorkerMetrics, key: tuple, ctx: RequestContext) -> None:
        finished = ctx.finished or ctx.started
        if ctx.upstream_started > 0.0:
            m.observe(
                m.kong_latency,
                KONG_LATENCY_BUCKETS,
                key,
                (ctx.upstream_started - ctx.started) * 1000,
            )
            if ctx.upstream_answered > 0.0:
                m.observe(
                    m.upstream_latency,
                    UPSTREAM_LATENCY_BUCKETS,
                    key,
                    (ctx.upstream_answered - ctx.upstream_started) * 1000,
                )
        else:
            m.observe(m.kong_latency, KONG_LATENCY_BUCKETS, key, (finished - ctx.started) * 1000)
        m.observe(m.request_latency, UPSTREAM_LATENCY_BUCKETS, key, (finished - ctx.started) * 1000)

    @staticmethod
    def _bytes(m: WorkerMetrics, series: _Series, ctx: RequestContext) -> None:
        req = ctx.request
        bandwidth = m.bandwidth
        ingress = head_size(len(req.method) + len(req.target) + 11, req.headers) + ctx.request_bytes
        if ingress > 0:
            key = series.ingress_key
            bandwidth[key] = bandwidth.get(key, 0) + ingress
        resp = ctx.response
        if resp is not None:
            egress = head_size(17, resp.headers) + ctx.response_bytes
            if egress > 0:
                key = series.egress_key
                bandwidth[key] = bandwidth.get(key, 0) + egress


class _Series:
    """The label tuples of one (service, route, consumer): Kong's label order per family."""

    __slots__ = ("service", "route", "names", "latency_key", "ingress_key", "egress_key", "_status")

    def __init__(
        self, service: Any, route: Any, service_name: str, route_name: str, consumer: str
    ) -> None:
        self.service = service  # the entity objects the tuples were made for (identity check)
        self.route = route
        self.names = (service_name, route_name)
        self.latency_key = (service_name, route_name, WORKSPACE)
        self.ingress_key = (service_name, route_name, "ingress", WORKSPACE, consumer)
        self.egress_key = (service_name, route_name, "egress", WORKSPACE, consumer)
        self._status: dict[tuple[int, bool], tuple[str, ...]] = {}

    def status_key(self, status: int, upstream: bool) -> tuple[str, ...]:
        key = self._status.get((status, upstream))
        if key is None:
            service, route = self.names
            key = self._status[(status, upstream)] = (
                service,
                route,
                str(status),
                "service" if upstream else "kong",
                WORKSPACE,
                self.ingress_key[4],
            )
        return key
