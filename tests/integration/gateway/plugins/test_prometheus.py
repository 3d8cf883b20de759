"""prometheus over real sockets: traffic through the engine, the worker's snapshot published
under the runtime directory, and the host text (what ``/metrics`` serves) with Kong's names."""

from __future__ import annotations

import asyncio

from gwharness import http
from prometheus_client.parser import text_string_to_metric_families
from tests.kits.net import wait_until
from tests.kits.plugins import handler

from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.prometheus import metrics_directory, metrics_hook
from carbonplane.gateway.plugins.prometheus.store import load_snapshots

from .proxykit import ChainProxy


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_traffic_shows_up_in_the_host_text(upstream, tmp_path):
    services = PluginServices(runtime_dir=str(tmp_path))
    metrics = handler(
        "prometheus",
        {"status_code_metrics": True, "latency_metrics": True, "bandwidth_metrics": True},
        services=services,
    )
    limiter = handler("rate-limiting", {"minute": 5, "limit_by": "ip"}, services=services)
    with ChainProxy(upstream.port, [metrics, limiter]) as proxy:
        statuses = [http(proxy.port, "GET", "/api/datahub/x")[0] for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2

        def published():
            snaps = load_snapshots(metrics_directory(str(tmp_path)))
            return snaps and sum(s["total_requests"] for s in snaps) == 7

        wait_until(published, timeout=10, what="the worker's snapshot of 7 requests")
        proxy.run(asyncio.sleep(0))
    content_type, body = metrics_hook(str(tmp_path), node_id="node-1")()
    text = body.decode()
    assert content_type.startswith("text/plain; version=0.0.4")
    labels = {
        "service": "datahub-gms",
        "route": "datahub-api",
        "workspace": "default",
        "consumer": "",
    }
    assert value(text, "kong_http_requests_total", code="200", source="service", **labels) == 5
    assert value(text, "kong_http_requests_total", code="429", source="kong", **labels) == 2
    assert (
        value(text, "kong_upstream_latency_ms_count", service="datahub-gms", route="datahub-api")
        == 5
    )
    assert (
        value(text, "kong_kong_latency_ms_count", service="datahub-gms", route="datahub-api") == 7
    )
    # Kong names this counter without _total; prometheus_client's parser adds it when reading
    assert (
        'kong_bandwidth_bytes{service="datahub-gms",route="datahub-api",direction="egress"' in text
    )
    assert value(text, "kong_bandwidth_bytes_total", direction="egress", **labels) > 0
    assert value(text, "kong_nginx_requests_total", node_id="node-1") == 7
