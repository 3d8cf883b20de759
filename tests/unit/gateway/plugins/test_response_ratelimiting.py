"""response-ratelimiting handler logic: Kong's config checks, the increment header's grammar,
Kong's counter names, headers and 429s, the log phase's increments, and the counter stores'
``amount`` (both implementations). Sockets, Redis and shared stores are in
tests/integration/gateway/plugins/test_response_ratelimiting.py."""

from __future__ import annotations

import calendar

import pytest
from reqkit import body_json, header, request, respond, run
from tests.kits.plugins import handler, problem_at, problems

from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.pdk.counters import NATIVE_BUILT, LocalCounters
from carbonplane.gateway.plugins.response_ratelimiting.counting import (
    UNREACHED,
    Counters,
    parse_increments,
)

T0 = calendar.timegm((2026, 3, 14, 15, 9, 26)) * 1000 + 500
NAME = "response-ratelimiting"
CONF = {"limit_by": "ip", "limits": {"videos": {"minute": 4, "hour": 10}, "img": {"second": 2}}}


def limiter(conf=CONF, counters=None, now_ms=T0):
    h = handler(NAME, conf, services=PluginServices(counters=counters or LocalCounters()))
    h.clock_ms = lambda: now_ms
    return h


def exchange(h, reported: str | None, **kw):
    """Access, header filter and log of one request: (verdict, ctx)."""
    ctx = request(**kw)
    verdict = run(h.on_request(ctx))
    if verdict is not None:
        return verdict, ctx
    headers = [("Content-Type", "text/plain")]
    if reported is not None:
        headers.append(("X-Kong-Limit", reported))
    respond(ctx, 200, headers)
    h.on_response_head(ctx)
    h.on_log(ctx)
    return None, ctx


def test_config_checks_name_what_and_where():
    assert problem_at(NAME, {}, "config.limits") == "required field missing"
    assert problem_at(NAME, {"limits": {}}, "config.limits") == "length must be at least 1"
    got = problem_at(NAME, {"limits": {"v": {}}}, "config.limits.v.@entity")
    assert "at least one of these fields must be non-empty" in got
    got = problem_at(NAME, {"limits": {"v": {"second": 5, "minute": 2}}}, "config.limits.v.@entity")
    assert got == ("the limit for minute(2.0) cannot be lower than the limit for second(5.0)")
    assert "no whitespace" in problem_at(
        NAME, {"limits": {"a b": {"minute": 1}}}, "config.limits.a b"
    )
    assert "not supported" in problem_at(
        NAME, {"policy": "cluster", "limits": {"v": {"minute": 1}}}, "config.policy"
    )
    assert problems(NAME, {"policy": "redis", "limits": {"v": {"minute": 1}}}) == [
        "config.redis.host: required field missing"
    ]
    assert problems(NAME, {"limit_by": "header", "limits": {"v": {"minute": 1}}})


def test_increment_header_grammar():
    names = {"videos": 1, "img": 1}
    assert parse_increments([b"videos=2, img = 3"], names) == {"videos": 2, "img": 3}
    assert parse_increments([b"videos=1", b"img=4"], names) == {"videos": 1, "img": 4}
    # unknown names, missing or extra '=', non-integers are ignored
    assert parse_increments([b"other=1, videos, img=1=2, videos=1.5, img=x"], names) == {}
    assert parse_increments([b"videos=-3"], names) == {"videos": -3}


def test_counter_names_are_kongs():
    counters = Counters(
        {"limits": {"videos": {"minute": 1, "second": None}}},
        {"route": {"id": "r-1"}, "service": None},
    )
    (cell,) = counters.cells("1.2.3.4", "videos", T0, 0)
    start = T0 // 60000 * 60000
    empty = "00000000-0000-0000-0000-000000000000"
    want = f"response-ratelimit:r-1:{empty}:1.2.3.4:{start}:videos:minute"
    assert cell[0] == want.encode()
    assert cell[2] == 0 and cell[1] == start + 60000


def test_headers_counting_and_the_bodiless_429():
    h = limiter()
    verdict, ctx = exchange(h, "videos=3")
    assert verdict is None
    sent = dict(ctx.request.headers)
    assert (
        sent[b"x-ratelimit-remaining-videos"] == b"4" and sent[b"x-ratelimit-remaining-img"] == b"2"
    )
    got = ctx.response.headers
    assert header(got, "x-kong-limit") is None
    assert header(got, "x-ratelimit-limit-videos-minute") == "4"
    assert header(got, "x-ratelimit-remaining-videos-minute") == "1"
    assert header(got, "x-ratelimit-remaining-videos-hour") == "7"
    assert header(got, "x-ratelimit-remaining-img-second") == "2"
    _, ctx = exchange(h, "videos=3")  # 1 remained: Kong lets it through and floors at 0
    assert ctx.response.status == 200
    assert header(ctx.response.headers, "x-ratelimit-remaining-videos-minute") == "0"
    _, ctx = exchange(h, "videos=1")  # nothing remains: replaced by 429 without a body
    assert ctx.response.status == 429
    assert h.on_response_body(ctx, b"secret", True) == b""
    _, ctx = exchange(h, None)  # costs nothing: passes
    assert ctx.response.status == 200 and h.on_response_body(ctx, b"x", True) == b"x"


def test_block_on_first_violation_and_identity():
    h = limiter({**CONF, "block_on_first_violation": True})
    exchange(h, "img=2")
    verdict, _ = exchange(h, None)
    assert verdict.status == 429
    assert body_json(verdict) == {
        "message": "API rate limit exceeded for 'img'",
        "request_id": "req-1",
    }
    verdict, _ = exchange(h, None, client_ip="198.51.100.1")  # another client: its own counters
    assert verdict is None


def test_limit_by_consumer_falls_back_to_ip():
    h = limiter({**CONF, "limit_by": "consumer"})
    ctx = request()
    ctx.vars["consumer"] = {"id": "c-1"}
    run(h.on_request(ctx))
    assert h.identify(ctx) == "c-1"
    assert h.identify(request(client_ip="192.0.2.9")) == "192.0.2.9"


def test_store_failure_follows_fault_tolerant():
    class Broken:
        def take(self, cells, now_ms, amount=1):
            from carbonplane.errors import RateLimitStoreError

            raise RateLimitStoreError("down")

    assert exchange(limiter(counters=Broken()), "videos=1")[0] is None
    strict = limiter({**CONF, "fault_tolerant": False}, counters=Broken())
    verdict, _ = exchange(strict, "videos=1")
    assert verdict.status == 500


@pytest.mark.parametrize("impl", ["python", "native"])
def test_store_amount_and_reading_without_counting(impl):
    if impl == "native" and not NATIVE_BUILT:
        pytest.skip("_native/counters.c is not built in this install (make setup)")
    store = LocalCounters(slots=64, impl=impl)
    cell = [(b"k", T0 + 1000, 0, None, 0.0)]
    assert store.take(cell, T0) == (False, [0])  # limit 0: read, nothing written
    assert store.live_counters(T0) == 0
    add = [(b"k", T0 + 1000, UNREACHED, None, 0.0)]
    assert store.take(add, T0, 5) == (True, [0])
    assert store.take(add, T0, 2) == (True, [5])
    assert store.take(cell, T0) == (False, [7])
    assert store.take(cell, T0 + 1000) == (False, [0])  # expired
