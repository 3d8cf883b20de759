"""response-ratelimiting over real sockets: the upstream's X-Kong-Limit header counts, is
removed, Kong's headers reach the client, a response that consumes an exhausted limit becomes a
bodiless 429, block_on_first_violation answers before the upstream, counters are the
rate-limiting plugin's host store (shared by two proxies on one file) and the real Redis."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlparse

import pytest
from gwharness import GatewayProcess, http, write_config
from tests.kits.net import wait_until
from tests.kits.plugins import handler as build

from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.pdk.counters import HostCounters

from .proxykit import ChainProxy
from .scripted_upstream import ScriptedUpstream

TEXT = ("Content-Type", "text/plain")


@pytest.fixture
def upstream():
    up = ScriptedUpstream().start()
    up.script("/videos", headers=[TEXT, ("X-Kong-Limit", "videos=2, images=1")], body=b"v")
    up.script("/free", headers=[TEXT], body=b"f")
    yield up
    up.stop()


def limits(**extra):
    return {
        "limit_by": "ip",
        "limits": {"videos": {"minute": 5, "hour": 100}, "images": {"minute": 3}},
        **extra,
    }


def test_counts_what_the_upstream_reports_and_hides_its_header(upstream, tmp_path):
    store = HostCounters.open(str(tmp_path / "c"))
    h = build("response-ratelimiting", limits(), services=PluginServices(counters=store))
    with ChainProxy(upstream.port, [h]) as proxy:
        status, headers, body = http(proxy.port, "GET", "/videos")
        assert status == 200 and body == b"v"
        assert "x-kong-limit" not in headers
        assert headers["x-ratelimit-limit-videos-minute"] == "5"
        assert headers["x-ratelimit-remaining-videos-minute"] == "3"
        assert headers["x-ratelimit-remaining-videos-hour"] == "98"
        assert headers["x-ratelimit-remaining-images-minute"] == "2"
        # the upstream saw the lowest remaining per name before this response
        seen = dict(upstream.seen["/videos"][0])
        assert seen["x-ratelimit-remaining-videos"] == "5"
        assert seen["x-ratelimit-remaining-images"] == "3"
        status, headers, _ = http(proxy.port, "GET", "/videos")
        assert headers["x-ratelimit-remaining-videos-minute"] == "1"
        assert headers["x-ratelimit-remaining-images-minute"] == "1"
        # a free endpoint still reports (without counting)
        status, headers, _ = http(proxy.port, "GET", "/free")
        assert status == 200 and headers["x-ratelimit-remaining-videos-minute"] == "1"


def test_consuming_an_exhausted_limit_becomes_a_bodiless_429(upstream, tmp_path):
    store = HostCounters.open(str(tmp_path / "c"))
    h = build("response-ratelimiting", limits(), services=PluginServices(counters=store))
    with ChainProxy(upstream.port, [h]) as proxy:
        for _ in range(3):  # images: 1 per response, limit 3 per minute
            assert http(proxy.port, "GET", "/videos")[0] == 200
        before = upstream.hits["/videos"]
        status, headers, body = http(proxy.port, "GET", "/videos")
        assert status == 429 and body == b""
        assert upstream.hits["/videos"] == before + 1  # Kong: the upstream was already called
        assert headers["x-ratelimit-remaining-images-minute"] == "0"
        # the connection stays usable and a response costing nothing still passes
        status, _, body = http(proxy.port, "GET", "/free")
        assert status == 200 and body == b"f"


def test_block_on_first_violation_answers_before_the_upstream(upstream, tmp_path):
    store = HostCounters.open(str(tmp_path / "c"))
    conf = limits(block_on_first_violation=True)
    conf["limits"] = {"videos": {"minute": 50}, "images": {"minute": 3}}
    h = build("response-ratelimiting", conf, services=PluginServices(counters=store))
    with ChainProxy(upstream.port, [h]) as proxy:
        for _ in range(3):
            http(proxy.port, "GET", "/videos")
        before = upstream.hits["/free"]
        status, _, body = http(proxy.port, "GET", "/free")
    assert status == 429
    assert body["message"] == "API rate limit exceeded for 'images'"
    assert upstream.hits["/free"] == before


def test_hide_client_headers(upstream, tmp_path):
    store = HostCounters.open(str(tmp_path / "c"))
    conf = limits(hide_client_headers=True)
    h = build("response-ratelimiting", conf, services=PluginServices(counters=store))
    with ChainProxy(upstream.port, [h]) as proxy:
        _, headers, _ = http(proxy.port, "GET", "/videos")
    assert not [n for n in headers if n.startswith("x-ratelimit") or n == "x-kong-limit"]


def test_two_proxies_share_one_host_store(upstream, tmp_path):
    path = str(tmp_path / "c")
    a, b = (
        build("response-ratelimiting", limits(), services=PluginServices(counters=c))
        for c in (HostCounters.open(path), HostCounters.open(path))
    )
    with ChainProxy(upstream.port, [a]) as pa, ChainProxy(upstream.port, [b]) as pb:
        assert http(pb.port, "GET", "/free")[1]["x-ratelimit-remaining-videos-minute"] == "5"
        http(pa.port, "GET", "/videos")
        # pa counts in its log phase, just after its response: pb sees it once that has run
        wait_until(
            lambda: http(pb.port, "GET", "/free")[1]["x-ratelimit-remaining-videos-minute"] == "3",
            what="proxy b to see what proxy a counted",
        )
        _, headers, _ = http(pb.port, "GET", "/videos")
    assert headers["x-ratelimit-remaining-videos-minute"] == "1"


def test_policy_redis_counts_in_the_real_redis(upstream, redis_url):
    name = f"n{uuid.uuid4().hex[:8]}"
    upstream.script("/r", headers=[TEXT, ("X-Kong-Limit", f"{name}=4")], body=b"r")
    url = urlparse(redis_url)
    conf = {
        "limit_by": "ip",
        "policy": "redis",
        "redis": {"host": url.hostname, "port": url.port},
        "limits": {name: {"minute": 6}},
    }
    h = build("response-ratelimiting", conf)
    with ChainProxy(upstream.port, [h]) as proxy:
        _, first, _ = http(proxy.port, "GET", "/r")
        proxy.run(_settle())
        _, second, _ = http(proxy.port, "GET", "/r")
        proxy.run(_settle())
        status, _, _ = http(proxy.port, "GET", "/r")
    assert first[f"x-ratelimit-remaining-{name}-minute"] == "2"
    assert second[f"x-ratelimit-remaining-{name}-minute"] == "0"
    assert status == 429


def test_redis_unreachable_is_fault_tolerant_by_default(upstream):
    conf = {
        "limit_by": "ip",
        "policy": "redis",
        "redis": {"host": "127.0.0.1", "port": 1, "timeout": 200},
        "limits": {"videos": {"minute": 1}},
    }
    with ChainProxy(upstream.port, [build("response-ratelimiting", conf)]) as proxy:
        status, headers, _ = http(proxy.port, "GET", "/videos")
        assert status == 200 and "x-ratelimit-remaining-videos-minute" not in headers
        assert "x-kong-limit" not in headers  # removed even without counters (Kong leaves it)
    strict = build("response-ratelimiting", {**conf, "fault_tolerant": False})
    with ChainProxy(upstream.port, [strict]) as proxy:
        status, _, body = http(proxy.port, "GET", "/videos")
    assert status == 500 and body["message"] == "An unexpected error occurred"


async def _settle() -> None:
    """Let the log phase's Redis increment (a task on the proxy's loop) finish."""
    import asyncio

    from carbonplane.gateway.plugins.response_ratelimiting import handler

    for _ in range(100):
        if not handler._tasks:
            return
        await asyncio.sleep(0.01)


def test_empty_bodies_stay_framed(upstream, tmp_path):
    upstream.script("/empty", headers=[TEXT, ("X-Kong-Limit", "videos=1")], body=b"")
    store = HostCounters.open(str(tmp_path / "c"))
    h = build("response-ratelimiting", limits(), services=PluginServices(counters=store))
    with ChainProxy(upstream.port, [h]) as proxy:
        status, headers, body = http(proxy.port, "GET", "/empty", timeout=3)
    assert (status, body) == (200, b"")
    assert headers["x-ratelimit-remaining-videos-minute"] == "4"


@pytest.mark.slow
def test_counts_across_the_workers_of_a_gateway(upstream, tmp_path):
    """``carbonplane gateway start --workers 2`` from a kong.yml: both workers count in the
    host's store, so the limit holds whichever worker serves."""
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "media",
                "url": f"http://127.0.0.1:{upstream.port}",
                "routes": [{"name": "media", "paths": ["/"]}],
                "plugins": [
                    {
                        "name": "response-ratelimiting",
                        "config": {"limit_by": "ip", "limits": {"images": {"day": 12}}},
                    }
                ],
            }
        ],
    }
    left = 86400 - time.time() % 86400
    if left < 60:  # the counters are per UTC day: do not straddle midnight
        time.sleep(left + 0.5)
    with GatewayProcess(write_config(tmp_path / "kong.yml", doc), workers=2) as gw:
        results = [http(gw.proxy_port, "GET", "/videos") for _ in range(20)]
    workers = {h["x-kong-request-id"][:24] for _, h, _ in results}
    assert len(workers) == 2, "fresh connections should have reached both workers"
    statuses = [s for s, _, _ in results]
    # images: 1 unit per response, 12 per day. The count lands in the log phase, just after a
    # response is written, so the next request (on the other worker) may read the usage before
    # it: with sequential requests at most one response more passes (Kong's read-then-count)
    assert statuses[:12] == [200] * 12
    assert statuses.count(200) <= 13 and statuses[-5:] == [429] * 5
