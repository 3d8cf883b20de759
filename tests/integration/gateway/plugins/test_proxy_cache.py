"""proxy-cache over real sockets: Miss then Hit with Kong's key and headers, Bypass rules,
Cache-Control, the adversarial cases (unkeyed headers and Vary, Set-Cookie, huge and streamed
bodies, a slow upstream under concurrent misses), the byte bound, and Admin API purges reaching
both workers of a real two-worker gateway."""

from __future__ import annotations

import hashlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gwharness import GatewayProcess, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.plugins import handler as build

from .proxykit import ROUTE, ChainProxy
from .scripted_upstream import ScriptedUpstream

TEXT = ("Content-Type", "text/plain")


@pytest.fixture
def upstream():
    up = ScriptedUpstream().start()
    yield up
    up.stop()


def cache(**config):
    return build("proxy-cache", {"strategy": "memory", **config})


def unique_store(request) -> dict:
    """A memory store of this test only (stores are per process and per dictionary_name)."""
    return {"dictionary_name": f"t-{request.node.name}"}


def test_miss_then_hit_with_kongs_key_and_headers(upstream, request):
    h = cache(memory=unique_store(request))
    with ChainProxy(upstream.port, [h]) as proxy:
        s1, h1, b1 = http(proxy.port, "GET", "/a?b=2&a=1")
        time.sleep(1.05)
        s2, h2, b2 = http(proxy.port, "GET", "/a?a=1&b=2")
    expected = hashlib.sha256(f"{ROUTE['id']}|GET|GET /a|a=1:b=2|".encode()).hexdigest()
    assert (s1, h1["x-cache-status"], h1["x-cache-key"]) == (200, "Miss", expected)
    assert (s2, h2["x-cache-status"], h2["x-cache-key"]) == (200, "Hit", expected)
    assert b1 == b2 == b"/a #1" and upstream.hits["/a"] == 1
    assert int(h2["age"]) >= 1 and h2["content-type"] == "text/plain"


def test_empty_bodies_and_head_requests_are_kept(upstream, request):
    upstream.script("/moved", status=301, headers=[TEXT, ("Location", "/new")], body=b"")
    h = cache(memory=unique_store(request))
    with ChainProxy(upstream.port, [h]) as proxy:
        first = http(proxy.port, "GET", "/moved")
        second = http(proxy.port, "GET", "/moved")
        head1 = http(proxy.port, "HEAD", "/page")
        head2 = http(proxy.port, "HEAD", "/page")
        get = http(proxy.port, "GET", "/page")
    assert (first[0], first[1]["x-cache-status"]) == (301, "Miss")
    assert (second[0], second[1]["x-cache-status"], second[2]) == (301, "Hit", b"")
    assert second[1]["location"] == "/new"
    assert head1[1]["x-cache-status"] == "Miss" and head2[1]["x-cache-status"] == "Hit"
    assert head2[2] == b""
    # HEAD and GET are keyed apart: the GET is a miss with its body
    assert get[1]["x-cache-status"] == "Miss" and get[2].startswith(b"/page #")


def test_bypass_for_methods_types_and_statuses(upstream, request):
    upstream.script("/img", headers=[("Content-Type", "image/png")], body=b"png")
    upstream.script("/boom", status=500, headers=[TEXT], body=b"x")
    upstream.script(
        "/json", headers=[("Content-Type", "application/json; charset=utf-8")], body=b"{}"
    )
    h = cache(memory=unique_store(request))
    with ChainProxy(upstream.port, [h]) as proxy:
        for path in ("/img", "/boom", "/json"):
            for _ in range(2):
                _, headers, _ = http(proxy.port, "GET", path)
                assert headers["x-cache-status"] == "Bypass"
            assert upstream.hits[path] == 2
        _, headers, _ = http(proxy.port, "POST", "/a", body=b"x")
        assert headers["x-cache-status"] == "Bypass" and "x-cache-key" not in headers


def test_cache_control_rules(upstream, request):
    upstream.script("/fresh", headers=[TEXT, ("Cache-Control", "public, max-age=60")])
    upstream.script("/private", headers=[TEXT, ("Cache-Control", "private, max-age=60")])
    upstream.script("/none", headers=[TEXT])
    h = cache(memory=unique_store(request), cache_control=True)
    with ChainProxy(upstream.port, [h]) as proxy:
        assert http(proxy.port, "GET", "/fresh")[1]["x-cache-status"] == "Miss"
        assert http(proxy.port, "GET", "/fresh")[1]["x-cache-status"] == "Hit"
        nc = {"Cache-Control": "no-cache"}
        assert http(proxy.port, "GET", "/fresh", headers=nc)[1]["x-cache-status"] == "Bypass"
        auth = {"Authorization": "Bearer x"}
        assert http(proxy.port, "GET", "/fresh", headers=auth)[1]["x-cache-status"] == "Bypass"
        time.sleep(1.05)
        older = {"Cache-Control": "max-age=0"}
        assert http(proxy.port, "GET", "/fresh", headers=older)[1]["x-cache-status"] == "Refresh"
        for path in ("/private", "/none"):  # private, and no lifetime at all
            assert http(proxy.port, "GET", path)[1]["x-cache-status"] == "Bypass"
        status, _, _ = http(
            proxy.port, "GET", "/never", headers={"Cache-Control": "only-if-cached"}
        )
        assert status == 504


def test_unkeyed_headers_cannot_poison_and_vary_is_honoured(upstream, request):
    upstream.script("/lang", headers=[TEXT, ("Vary", "Accept-Language")], body=b"fr")
    h = cache(memory=unique_store(request))
    with ChainProxy(upstream.port, [h]) as proxy:
        # the upstream says its answer depends on a header the key does not hold: not kept
        for _ in range(2):
            _, headers, _ = http(proxy.port, "GET", "/lang", headers={"Accept-Language": "fr"})
            assert headers["x-cache-status"] == "Bypass"
    keyed = cache(
        memory=unique_store(request) | {"dictionary_name": "keyed"},
        vary_headers=["Accept-Language"],
    )
    with ChainProxy(upstream.port, [keyed]) as proxy:
        fr = http(proxy.port, "GET", "/lang", headers={"Accept-Language": "fr"})[1]
        de = http(proxy.port, "GET", "/lang", headers={"Accept-Language": "de"})[1]
        fr2 = http(proxy.port, "GET", "/lang", headers={"Accept-Language": "fr"})[1]
    assert fr["x-cache-key"] != de["x-cache-key"] and de["x-cache-status"] == "Miss"
    assert fr2["x-cache-status"] == "Hit"


def test_set_cookie_responses_are_not_kept_unless_asked(upstream, request):
    upstream.script("/login", headers=[TEXT, ("Set-Cookie", "session=alice")], body=b"hi")
    with ChainProxy(upstream.port, [cache(memory=unique_store(request))]) as proxy:
        for _ in range(2):
            _, headers, _ = http(proxy.port, "GET", "/login")
            assert headers["x-cache-status"] == "Bypass"
    kong_like = cache(memory={"dictionary_name": f"k-{request.node.name}"}, cache_set_cookie=True)
    with ChainProxy(upstream.port, [kong_like]) as proxy:
        http(proxy.port, "GET", "/login")
        _, headers, _ = http(proxy.port, "GET", "/login")
    assert headers["x-cache-status"] == "Hit" and headers["set-cookie"] == "session=alice"


def test_huge_bodies_stream_through_and_are_not_kept(upstream, request):
    big = bytes(range(256)) * 12288  # 3 MiB
    upstream.script("/big", headers=[TEXT], body=big, chunked=True, pieces=48)
    upstream.script("/long", headers=[TEXT], body=b"y" * 200_000)
    h = cache(memory=unique_store(request), max_body_bytes=1_000_000)
    with ChainProxy(upstream.port, [h]) as proxy:
        for _ in range(2):
            status, headers, body = http(proxy.port, "GET", "/big")
            assert status == 200 and body == big and headers["x-cache-status"] == "Miss"
        assert upstream.hits["/big"] == 2
        h2 = cache(memory=unique_store(request), max_body_bytes=100_000)
    with ChainProxy(upstream.port, [h2]) as proxy:
        _, headers, body = http(proxy.port, "GET", "/long")
    assert headers["x-cache-status"] == "Bypass" and len(body) == 200_000


def test_uncacheable_responses_are_not_buffered(upstream, request):
    upstream.script("/slow", headers=[TEXT], body=b"a" * 40, chunked=True, pieces=4, gap=0.4)
    with ChainProxy(upstream.port, [cache(memory=unique_store(request))]) as proxy:
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        started = time.monotonic()
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"aaaaaaaaaa" not in got:
            got += sock.recv(65536)
        first_piece = time.monotonic() - started
        sock.close()
    assert first_piece < 1.0, f"the first piece waited {first_piece:.2f}s for the whole body"


def test_memory_is_bounded_least_recently_used_first(upstream, request):
    for i in range(6):
        upstream.script(f"/e{i}", headers=[TEXT], body=b"z" * 1000)
    store = {"dictionary_name": f"t-{request.node.name}", "max_bytes": 4000}
    with ChainProxy(upstream.port, [cache(memory=store)]) as proxy:
        for i in range(3):
            http(proxy.port, "GET", f"/e{i}")
        http(proxy.port, "GET", "/e0")  # /e0 is now the most recently used
        for i in range(3, 5):
            http(proxy.port, "GET", f"/e{i}")
        statuses = {i: http(proxy.port, "GET", f"/e{i}")[1]["x-cache-status"] for i in (0, 1, 4)}
    assert statuses == {0: "Hit", 1: "Miss", 4: "Hit"}


def test_slow_upstream_with_concurrent_misses(upstream, request):
    upstream.script("/slow", headers=[TEXT], body=b"s" * 5000, delay=0.3)
    with ChainProxy(upstream.port, [cache(memory=unique_store(request))]) as proxy:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: http(proxy.port, "GET", "/slow"), range(8)))
        assert all(s == 200 and b == b"s" * 5000 for s, _, b in results)
        assert {h["x-cache-status"] for _, h, _ in results} == {"Miss"}
        status, headers, body = http(proxy.port, "GET", "/slow")
    assert headers["x-cache-status"] == "Hit" and body == b"s" * 5000
    assert upstream.hits["/slow"] == 8  # no request coalescing, as Kong


@pytest.mark.slow
def test_admin_purge_reaches_both_workers(upstream, tmp_path):
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "s",
                "url": f"http://127.0.0.1:{upstream.port}",
                "routes": [{"name": "r", "paths": ["/"]}],
            }
        ],
        "plugins": [{"name": "proxy-cache", "config": {"strategy": "memory"}}],
    }
    with GatewayProcess(write_config(tmp_path / "kong.yml", doc), workers=2) as gw:

        def statuses() -> dict[str, str]:
            out = {}
            for _ in range(40):  # fresh connections spread over both workers
                _, h, _ = http(gw.proxy_port, "GET", "/p")
                out.setdefault(h["x-kong-request-id"][:24], h["x-cache-status"])
                out[h["x-kong-request-id"][:24]] = h["x-cache-status"]
            return out

        wait_until(lambda: len(statuses()) == 2, what="requests on both workers")
        assert set(statuses().values()) == {"Hit"}
        key = http(gw.proxy_port, "GET", "/p")[1]["x-cache-key"]
        status, _ = admin(gw.admin_port, "DELETE", f"/proxy-cache/{key}")[:2]
        assert status == 204
        seen = {}
        for _ in range(40):
            _, h, _ = http(gw.proxy_port, "GET", "/p")
            seen.setdefault(h["x-kong-request-id"][:24], h["x-cache-status"])
        assert set(seen.values()) == {"Miss"} and len(seen) == 2
        assert admin(gw.admin_port, "DELETE", "/proxy-cache")[0] == 204
        _, h, _ = http(gw.proxy_port, "GET", "/p")
        assert h["x-cache-status"] == "Miss"
        assert admin(gw.admin_port, "DELETE", "/proxy-cache/nothex")[0] == 404
        assert admin(gw.admin_port, "GET", f"/proxy-cache/{key}")[0] == 501
