"""``GET /metrics`` on the Admin API shows host-wide totals: the counts of every worker added."""

from __future__ import annotations

import re

from gwharness import GatewayProcess, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn

REQUESTS = 40


def series(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_add_up_every_workers_counts(tmp_path):
    up = StandIn("svc").start()
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "svc",
                "url": f"http://{up.address}/",
                "routes": [{"name": "api", "paths": ["/api"]}],
            }
        ],
        "upstreams": [{"name": "pool.internal", "targets": [{"target": up.address}]}],
        "plugins": [
            {
                "name": "prometheus",
                "config": {
                    "status_code_metrics": True,
                    "latency_metrics": True,
                    "upstream_health_metrics": True,
                },
            }
        ],
    }
    try:
        with GatewayProcess(write_config(tmp_path / "kong.yml", doc), workers=2) as gw:
            workers = set()
            for _ in range(REQUESTS):  # fresh connections: the kernel spreads them over both
                status, headers, _ = http(gw.proxy_port, "GET", "/api/x")
                assert status == 200
                workers.add(headers["x-kong-request-id"][:16])
            assert http(gw.proxy_port, "GET", "/nowhere")[0] == 404
            assert len(workers) == 2

            def scraped():
                status, headers, body = http(gw.admin_port, "GET", "/metrics")
                assert status == 200 and headers["content-type"].startswith("text/plain")
                text = body.decode()
                ok = series(
                    text,
                    "kong_http_requests_total",
                    service="svc",
                    route="api",
                    code="200",
                    source="service",
                )
                missed = series(
                    text,
                    "kong_http_requests_total",
                    service="",
                    route="",
                    code="404",
                    source="kong",
                )
                return text if ok == REQUESTS and missed == 1 else None

            text = wait_until(scraped, timeout=15, what="host totals of both workers")
            assert series(text, "kong_nginx_requests_total") == REQUESTS + 1
            assert (
                series(text, "kong_upstream_latency_ms_count", service="svc", route="api")
                == REQUESTS
            )
            assert (
                series(
                    text,
                    "kong_upstream_target_health",
                    upstream="pool.internal",
                    target=up.address,
                    state="healthchecks_off",
                )
                == 1
            )
    finally:
        up.stop()
