"""proxy-cache logic: Kong's cache key, Cache-Control parsing and lifetimes, content types,
the request/response rules and our guards, the byte-bounded store, the purge journal and the
Admin API endpoints. Real sockets and two workers: tests/integration/.../test_proxy_cache.py."""

from __future__ import annotations

import dataclasses
import hashlib
import time

from reqkit import header, request, respond
from tests.kits.plugins import handler, problem_at, problems

from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.plugins.proxy_cache.cache_key import build_cache_key, request_uri
from carbonplane.gateway.plugins.proxy_cache.policy import (
    content_type_matches,
    directives,
    mime,
    resource_ttl,
)
from carbonplane.gateway.plugins.proxy_cache.store import MemoryStore, PurgeJournal

NAME = "proxy-cache"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_kongs_cache_key():
    # the request line up to '?': with a query Kong keys "GET /p", without it the whole line
    assert request_uri(b"GET", b"/p?x=1", b"1.1", False) == "GET /p"
    assert request_uri(b"GET", b"/P", b"1.1", True) == "get /p http/1.1"
    key = build_cache_key("c", "r", "GET", "GET /p", b"?b=2&a=1&a=0&flag", [], (), ())
    assert key == sha("c:r|GET|GET /p|a=0,1:b=2:flag|")
    key = build_cache_key(None, None, "GET", "GET /p", b"?b=2&a=1", [], ["b", "z"], ())
    assert key == sha("default|GET|GET /p|b=2|")
    headers = [(b"x-lang", b"fr"), (b"other", b"1")]
    key = build_cache_key(None, "r", "GET", "u", b"", headers, (), ["X-Lang", "Missing"])
    assert key == sha("r|GET|u||X-Lang=fr")


def test_directives_lifetimes_and_types():
    cc = directives([b'public, Max-Age=60, s-maxage="30"', b"no-cache"])
    assert cc == {"public": True, "max-age": 60, "s-maxage": 30, "no-cache": True}
    assert resource_ttl(cc, [], 0) == 30
    expires = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1_800_000_100))
    assert resource_ttl({}, [expires.encode()], 1_800_000_000) == 100
    assert resource_ttl({}, [b"garbage"], 0) == 0
    assert resource_ttl({"max-age": "x"}, [], 0) == 0
    accepted = (mime("application/json"), mime("text/*"))
    assert content_type_matches(b"Application/JSON", accepted)
    assert content_type_matches(b"text/html", accepted)
    assert not content_type_matches(b"application/json; charset=utf-8", accepted)
    assert not content_type_matches(b"nonsense", accepted)


def test_config_checks():
    assert problem_at(NAME, {}, "config.strategy") == "required field missing"
    assert "not available" in problem_at(NAME, {"strategy": "redis"}, "config.strategy")
    assert "invalid content type" in problem_at(
        NAME, {"strategy": "memory", "content_type": ["json"]}, "config.content_type.0"
    )
    assert problem_at(NAME, {"strategy": "memory", "cache_ttl": 0}, "config.cache_ttl")
    assert problems(NAME, {"strategy": "memory", "request_method": ["DELETE"]})


def cached(conf=None, name="unit"):
    return handler(
        NAME, {"strategy": "memory", "memory": {"dictionary_name": name}, **(conf or {})}
    )


def through(h, target="/a", req_headers=None, status=200, headers=None, body=b"hello"):
    """One request: access, then (on a miss) the upstream's head and body. The verdict or ctx."""
    ctx = request("GET", target, req_headers)
    verdict = h.on_request(ctx)
    if verdict is not None:
        return verdict
    respond(ctx, status, headers if headers is not None else [("Content-Type", "text/plain")])
    h.on_response_head(ctx)
    h.on_response_body(ctx, body, False)
    h.on_response_body(ctx, b"", True)
    return ctx


def test_miss_hit_refresh_and_headers():
    h = cached(name="mhr")
    ctx = through(h, headers=[("Content-Type", "text/plain"), ("Connection", "x"), ("X-Up", "1")])
    assert header(ctx.response.headers, "x-cache-status") == "Miss"
    hit = through(h)
    assert hit.status == 200 and hit.body == b"hello"
    assert header(hit.headers, "x-cache-status") == "Hit" and header(hit.headers, "x-up") == "1"
    assert header(hit.headers, "connection") is None and header(hit.headers, "age") == "0"
    quiet = cached({"response_headers": {"age": False, "X-Cache-Status": False}}, name="mhr")
    hit = through(quiet)
    assert header(hit.headers, "age") is None and header(hit.headers, "x-cache-status") is None
    debug = through(quiet, req_headers={"Kong-Debug": "1"})
    assert header(debug.headers, "x-cache-status") == "Hit"
    entry = h.store.entries[header(hit.headers, "x-cache-key")]
    h.store.entries[header(hit.headers, "x-cache-key")] = entry._replace(timestamp=0)
    ctx = through(h)
    assert header(ctx.response.headers, "x-cache-status") == "Refresh"


def test_guards_set_cookie_vary_and_size():
    h = cached({"max_body_bytes": 10}, name="guards")
    for extra in (("Set-Cookie", "a=b"), ("Vary", "Cookie"), ("Vary", "*")):
        ctx = through(h, target="/g", headers=[("Content-Type", "text/plain"), extra])
        assert header(ctx.response.headers, "x-cache-status") == "Bypass"
    ctx = through(h, target="/big", body=b"x" * 11)
    assert header(ctx.response.headers, "x-cache-status") == "Miss"  # known only at the end
    assert (
        header(through(h, target="/big", body=b"x" * 11).response.headers, "x-cache-status")
        == "Miss"
    )
    vary = cached({"vary_headers": ["Accept-Language"]}, name="guards")
    through(
        vary, target="/v", headers=[("Content-Type", "text/plain"), ("Vary", "accept-language")]
    )
    assert through(vary, target="/v").status == 200  # kept: the key holds the header


def test_store_is_byte_bounded_lru_and_expires():
    store = MemoryStore("s", 3 * (256 + 100))
    for k in "abc":
        assert store.store(k, 200, (), b"x" * 100, 60, 60)
    store.fetch("a")
    store.store("d", 200, (), b"x" * 100, 60, 60)
    assert set(store.entries) == {"a", "c", "d"} and store.size <= store.max_bytes
    assert not store.store("huge", 200, (), b"x" * 5000, 60, 60)
    store.store("gone", 200, (), b"", 60, 0.001)
    time.sleep(0.01)
    assert store.fetch("gone") is None


def test_purge_journal(tmp_path):
    writer, reader = PurgeJournal.in_dir(str(tmp_path)), PurgeJournal.in_dir(str(tmp_path))
    store = MemoryStore("j", 1 << 20)
    key = "a" * 64
    store.store(key, 200, (), b"1", 60, 60)
    store.store("b" * 64, 200, (), b"1", 60, 60)
    writer.publish(key)
    reader.apply([store])
    assert set(store.entries) == {"b" * 64}
    writer.publish(None)
    reader.apply([store])
    assert not store.entries
    for _ in range(300):  # more than the ring holds: the reader flushes everything
        writer.publish(key)
    store.store("c" * 64, 200, (), b"1", 60, 60)
    reader.apply([store])
    assert not store.entries


def test_admin_endpoints():
    purged = []
    api = AdminAPI()
    assert api.handle("DELETE", "/proxy-cache", None, {})[0] == 404  # no workers to purge
    api = AdminAPI()
    api.hooks = dataclasses.replace(api.hooks, purge_cache=purged.append)
    assert api.handle("DELETE", "/proxy-cache", None, {})[0] == 204
    assert api.handle("DELETE", "/proxy-cache/" + "f" * 64, None, {})[0] == 204
    assert api.handle("DELETE", "/proxy-cache/zz", None, {})[0] == 404
    assert api.handle("GET", "/proxy-cache/" + "f" * 64, None, {})[0] == 501
    missing = f"/proxy-cache/{'1' * 8}-1111-1111-1111-{'1' * 12}/caches/{'f' * 64}"
    assert api.handle("DELETE", missing, None, {})[0] == 404
    assert purged == [None, "f" * 64]


def test_purges_between_config_versions_reach_the_kept_entries(tmp_path):
    """Handlers are rebuilt per config version; the stores and the journal reader outlive
    them, so a purge published while no handler of the new version ran yet still applies."""
    from carbonplane.gateway.plugins import PluginServices

    services = PluginServices(runtime_dir=str(tmp_path))
    conf = {"strategy": "memory", "memory": {"dictionary_name": "versions"}}
    old = handler(NAME, conf, services=services)
    through(old, target="/v")
    key = header(through(old, target="/v").headers, "x-cache-key")
    PurgeJournal.in_dir(str(tmp_path)).publish(key)  # the Admin API, between two versions
    new = handler(NAME, conf, services=services)
    ctx = through(new, target="/v")
    assert header(ctx.response.headers, "x-cache-status") == "Miss"
