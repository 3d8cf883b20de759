"""The Prometheus text (format 0.0.4) of a gateway host, with Kong 3.x's metric names and labels.

``render_host_metrics(directory, ...)`` is what the Admin API's ``/metrics`` and a status
listener call: it adds up the worker snapshots published in ``directory`` (``store.py``) and
writes, as Kong's exporter does:

- ``kong_http_requests_total{service,route,code,source,workspace,consumer}`` counter;
- ``kong_kong_latency_ms``, ``kong_upstream_latency_ms``, ``kong_request_latency_ms``
  ``{service,route,workspace}`` histograms (Kong's buckets);
- ``kong_bandwidth_bytes{service,route,direction,workspace,consumer}`` counter (no ``_total``,
  as Kong's own library names it);
- ``kong_upstream_target_health{upstream,target,address,state,subsystem}`` gauge, one series per
  state with 1 on the current one, when a prometheus plugin enabled ``upstream_health_metrics``
  and the caller gives ``upstream_health``;
- node gauges ``kong_nginx_requests_total{node_id,subsystem}``, ``kong_node_info{node_id,
  version}``, ``kong_datastore_reachable`` (1: the config is in memory) and, when the caller gives
  ``connections``, ``kong_nginx_connections_total{node_id,subsystem,state}``;
- other plugins' process counters added up (``WorkerMetrics.extra``, e.g. the event-log's
  ``carbonplane_event_log_dropped_total``).

We write the text ourselves (rather than through ``prometheus_client``) to keep Kong's exact
names; ``extra_registries`` are appended with ``prometheus_client.generate_latest`` (e.g. the
event producer's metrics).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import carbonplane
from carbonplane.gateway.plugins.prometheus.store import (
    EXTRA_HELP,
    KONG_LATENCY_BUCKETS,
    UPSTREAM_LATENCY_BUCKETS,
    WorkerMetrics,
    load_snapshots,
    merge,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HEALTH_STATES = ("healthchecks_off", "healthy", "unhealthy", "dns_error")

HealthRows = Iterable[tuple[str, str, str, str]]  # upstream, target, address, state


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: Iterable[Any]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


def _number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    if isinstance(value, float) and math.isinf(value):
        return "+Inf"
    return str(int(value))


def _family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")


def bucket_format(buckets: tuple) -> str:
    """Kong's ``le`` format: zero-padded to one width with the buckets' precision (``0025.0``)."""
    order = precision = 1
    for bound in buckets:
        text = f"{float(bound):f}".rstrip("0")
        dot = text.index(".")
        order = max(order, dot)
        precision = max(precision, len(text) - dot - 1)
    return f"%0{order + precision + 1}.{precision}f"


def _histogram(out: list[str], name: str, help_text: str, buckets: tuple, series: Mapping) -> None:
    _family(out, name, "histogram", help_text)
    names = ("service", "route", "workspace")
    bounds = [bucket_format(buckets) % b for b in buckets] + ["+Inf"]
    for key in sorted(series):
        counts = series[key]
        base = _labels(names, key)
        running = 0
        for le, n in zip(bounds, counts):
            running += n
            out.append(f'{name}_bucket{{{base},le="{le}"}} {_number(running)}')
        out.append(f"{name}_count{{{base}}} {_number(running)}")
        out.append(f"{name}_sum{{{base}}} {_number(counts[-1])}")


def render_metrics(
    m: WorkerMetrics,
    *,
    node_id: str = "",
    upstream_health: Callable[[], HealthRows] | None = None,
    connections: Callable[[], Mapping[str, int]] | None = None,
) -> str:
    """The exposition text of one ``WorkerMetrics`` (a worker's or the host's merge)."""
    out: list[str] = []
    _family(
        out, "kong_datastore_reachable", "gauge", "Datastore reachable from Kong, 0 is unreachable"
    )
    out.append("kong_datastore_reachable 1")
    _family(out, "kong_node_info", "gauge", "Kong Node metadata information")
    out.append(
        f"kong_node_info{{{_labels(('node_id', 'version'), (node_id, carbonplane.__version__))}}} 1"
    )
    _family(out, "kong_nginx_requests_total", "gauge", "Number of requests total")
    out.append(
        f"kong_nginx_requests_total{{{_labels(('node_id', 'subsystem'), (node_id, 'http'))}}} "
        f"{m.total_requests}"
    )
    if connections is not None:
        _family(out, "kong_nginx_connections_total", "gauge", "Number of connections by subsystem")
        for state, n in sorted(connections().items()):
            labels = _labels(("node_id", "subsystem", "state"), (node_id, "http", state))
            out.append(f"kong_nginx_connections_total{{{labels}}} {n}")
    if m.upstream_health and upstream_health is not None:
        _family(
            out,
            "kong_upstream_target_health",
            "gauge",
            "Health status of targets of upstream. "
            "States = healthchecks_off|healthy|unhealthy|dns_error, value is 1 when state is "
            "populated.",
        )
        names = ("upstream", "target", "address", "state", "subsystem")
        for upstream, target, address, state in upstream_health():
            for candidate in HEALTH_STATES:
                labels = _labels(names, (upstream, target, address, candidate, "http"))
                out.append(
                    f"kong_upstream_target_health{{{labels}}} {1 if candidate == state else 0}"
                )
    if m.requests:
        _family(
            out,
            "kong_http_requests_total",
            "counter",
            "HTTP status codes per consumer/service/route in Kong",
        )
        names = ("service", "route", "code", "source", "workspace", "consumer")
        for key in sorted(m.requests):
            out.append(f"kong_http_requests_total{{{_labels(names, key)}}} {m.requests[key]}")
    if m.kong_latency:
        _histogram(
            out,
            "kong_kong_latency_ms",
            "Latency added by Kong and enabled plugins for each service/route in Kong",
            KONG_LATENCY_BUCKETS,
            m.kong_latency,
        )
    if m.upstream_latency:
        _histogram(
            out,
            "kong_upstream_latency_ms",
            "Latency added by upstream response for each service/route in Kong",
            UPSTREAM_LATENCY_BUCKETS,
            m.upstream_latency,
        )
    if m.request_latency:
        _histogram(
            out,
            "kong_request_latency_ms",
            "Total latency incurred during requests for each service/route in Kong",
            UPSTREAM_LATENCY_BUCKETS,
            m.request_latency,
        )
    if m.bandwidth:
        _family(
            out,
            "kong_bandwidth_bytes",
            "counter",
            "Total bandwidth (ingress/egress) throughput in bytes",
        )
        names = ("service", "route", "direction", "workspace", "consumer")
        for key in sorted(m.bandwidth):
            out.append(f"kong_bandwidth_bytes{{{_labels(names, key)}}} {m.bandwidth[key]}")
    for name in sorted(m.extra):
        _family(out, name, "counter", EXTRA_HELP.get(name, name))
        out.append(f"{name} {_number(m.extra[name])}")
    return "\n".join(out) + "\n"


def render_host_metrics(
    directory: str,
    *,
    node_id: str = "",
    upstream_health: Callable[[], HealthRows] | None = None,
    connections: Callable[[], Mapping[str, int]] | None = None,
    extra_registries: Iterable[Any] = (),
) -> tuple[str, bytes]:
    """``(content type, body)`` of ``/metrics`` for the host whose workers publish in
    ``directory`` (the shape of the Admin API's ``metrics`` hook)."""
    text = render_metrics(
        merge(load_snapshots(directory)),
        node_id=node_id,
        upstream_health=upstream_health,
        connections=connections,
    )
    body = text.encode()
    if extra_registries:
        from prometheus_client import generate_latest

        body += b"".join(generate_latest(r) for r in extra_registries)
    return CONTENT_TYPE, body


def metrics_directory(runtime_dir: str) -> str:
    """Where a gateway node's workers publish their metrics (under the node's runtime dir)."""
    return os.path.join(runtime_dir, "prometheus")


def metrics_hook(runtime_dir: str, **options: Any) -> Callable[[], tuple[str, bytes]]:
    """The Admin API ``metrics`` hook of a node whose runtime directory is ``runtime_dir``."""
    directory = metrics_directory(runtime_dir)
    return lambda: render_host_metrics(directory, **options)
