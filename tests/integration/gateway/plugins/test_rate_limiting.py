"""rate-limiting over real sockets: Kong's headers and 429 on the wire, exactness with many
concurrent clients on one worker, across the worker processes of one gateway (policy local,
``carbonplane gateway start --workers 3``) and across two gateway processes sharing the real
Redis (policy redis), and fault tolerance when Redis is unreachable."""

from __future__ import annotations

import calendar
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from gwharness import GatewayProcess, http, write_config
from tests.kits.plugins import handler
from tests.kits.standin import StandIn

from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.pdk.counters import HostCounters

from .proxykit import ChainProxy

CLIENTS = 16


def burst(port: int, total: int, headers: dict | None = None) -> list[tuple[int, dict]]:
    """``total`` requests from ``CLIENTS`` concurrent clients, each on a fresh connection."""

    def one(_):
        status, hdrs, _ = http(port, "GET", "/api/datahub/x", headers=headers or {})
        return status, hdrs

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(total)))


def not_near_day_end() -> None:
    """Counters live per UTC day here; a test must not straddle midnight."""
    now = time.time()
    left = calendar.timegm(time.gmtime(now)[:3] + (0, 0, 0)) + 86400 - now
    if left < 30:
        time.sleep(left + 0.5)


def test_headers_and_429_on_the_wire(upstream, tmp_path):
    counters = HostCounters.open(str(tmp_path / "c"))
    h = handler(
        "rate-limiting",
        {"minute": 2, "hour": 10, "limit_by": "ip"},
        services=PluginServices(counters=counters),
    )
    with ChainProxy(upstream.port, [h]) as proxy:
        first = http(proxy.port, "GET", "/api/datahub/a")
        http(proxy.port, "GET", "/api/datahub/a")
        status, headers, body = http(proxy.port, "GET", "/api/datahub/a")
    assert first[0] == 200
    assert (
        first[1]["x-ratelimit-limit-minute"] == "2"
        and first[1]["x-ratelimit-remaining-minute"] == "1"
    )
    assert (
        first[1]["x-ratelimit-limit-hour"] == "10" and first[1]["x-ratelimit-remaining-hour"] == "9"
    )
    assert first[1]["ratelimit-limit"] == "2" and first[1]["ratelimit-remaining"] == "1"
    assert 1 <= int(first[1]["ratelimit-reset"]) <= 60
    assert status == 429 and body["message"] == "API rate limit exceeded" and body["request_id"]
    assert headers["retry-after"] == headers["ratelimit-reset"]
    assert headers["x-ratelimit-remaining-minute"] == "0" and headers["content-type"].startswith(
        "application/json"
    )
    assert len(upstream.requests) == 2


def test_many_concurrent_clients_on_one_worker_get_exactly_the_limit(upstream, tmp_path):
    not_near_day_end()
    h = handler(
        "rate-limiting",
        {"day": 60, "limit_by": "ip"},
        services=PluginServices(counters=HostCounters.open(str(tmp_path / "c"))),
    )
    with ChainProxy(upstream.port, [h]) as proxy:
        results = burst(proxy.port, 200)
    statuses = [s for s, _ in results]
    assert statuses.count(200) == 60 and statuses.count(429) == 140
    assert len(upstream.requests) == 60


def gateway_config(up: StandIn, plugin: dict) -> dict:
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "datahub-gms",
                "url": f"http://{up.address}/",
                "routes": [{"name": "datahub-api", "paths": ["/api/datahub"]}],
            }
        ],
        "plugins": [{"name": "rate-limiting", "config": plugin}],
    }


@pytest.mark.slow
def test_policy_local_is_exact_across_the_workers_of_one_host(upstream, tmp_path):
    not_near_day_end()
    path = write_config(
        tmp_path / "kong.yml", gateway_config(upstream, {"day": 100, "limit_by": "ip"})
    )
    with GatewayProcess(path, workers=3) as gw:
        results = burst(gw.proxy_port, 400)
    statuses = [s for s, _ in results]
    workers = {h["x-kong-request-id"][:16] for _, h in results}
    assert len(workers) >= 2, "the kernel should have spread 400 fresh connections over the workers"
    assert statuses.count(200) == 100 and statuses.count(429) == 300
    assert len(upstream.requests) == 100
    remaining = sorted(int(h["x-ratelimit-remaining-day"]) for s, h in results if s == 200)
    assert remaining == list(range(100))  # every admitted request saw its own count


@pytest.mark.slow
@pytest.mark.redis
def test_policy_redis_is_exact_across_two_gateway_processes(upstream, tmp_path, redis_url):
    not_near_day_end()
    tenant = f"tenant-{uuid.uuid4().hex}"  # a fresh counter in the shared Redis
    plugin = {
        "day": 80,
        "limit_by": "header",
        "header_name": "X-Tenant",
        "policy": "redis",
        "fault_tolerant": False,
        "redis": {"host": "127.0.0.1", "port": 6379},
    }
    path = write_config(tmp_path / "kong.yml", gateway_config(upstream, plugin))
    with GatewayProcess(path, workers=1) as a, GatewayProcess(path, workers=1) as b:
        for port in (
            a.proxy_port,
            b.proxy_port,
        ):  # each gateway has its Redis connection before the race
            assert (
                http(
                    port, "GET", "/api/datahub/x", headers={"X-Tenant": f"warm-{uuid.uuid4().hex}"}
                )[0]
                == 200
            )
        warmed = len(upstream.requests)
        with ThreadPoolExecutor(2) as pool:
            halves = list(
                pool.map(
                    lambda port: burst(port, 120, {"X-Tenant": tenant}),
                    (a.proxy_port, b.proxy_port),
                )
            )
    # Exact across the two processes: 80 admitted in all, every other request refused with 429 by
    # whichever gateway saw it (a gateway that admitted none still proves it read the shared count).
    statuses = [s for half in halves for s, _ in half]
    assert statuses.count(200) == 80 and statuses.count(429) == 160
    assert all(set(s for s, _ in half) <= {200, 429} for half in halves)
    assert len(upstream.requests) - warmed == 80


def test_redis_down_with_and_without_fault_tolerance(upstream):
    down = {
        "minute": 5,
        "limit_by": "ip",
        "policy": "redis",
        "redis": {"host": "127.0.0.1", "port": 1, "timeout": 500},
    }
    with ChainProxy(upstream.port, [handler("rate-limiting", down)]) as proxy:
        status, headers, _ = http(proxy.port, "GET", "/api/datahub/x")
        assert status == 200 and "x-ratelimit-limit-minute" not in headers
    with ChainProxy(
        upstream.port, [handler("rate-limiting", {**down, "fault_tolerant": False})]
    ) as proxy:
        status, _, body = http(proxy.port, "GET", "/api/datahub/x")
        assert status == 500 and body["message"] == "An unexpected error occurred"


@pytest.mark.redis
def test_redis_policy_headers_over_the_wire(upstream, redis_url):
    conf = {
        "minute": 3,
        "limit_by": "header",
        "header_name": "X-Tenant",
        "policy": "redis",
        "redis": {"host": "127.0.0.1", "port": 6379},
    }
    tenant = {"X-Tenant": f"t-{uuid.uuid4().hex}"}
    with ChainProxy(upstream.port, [handler("rate-limiting", conf)]) as proxy:
        seen = [http(proxy.port, "GET", "/api/datahub/x", headers=tenant) for _ in range(4)]
    assert [s for s, _, _ in seen] == [200, 200, 200, 429]
    assert [h.get("x-ratelimit-remaining-minute") for _, h, _ in seen] == ["2", "1", "0", "0"]
