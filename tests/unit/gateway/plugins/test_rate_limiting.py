"""rate-limiting handler logic: Kong's config checks, identifiers, headers, 429 body, windows
(fixed and sliding), store failures with and without fault tolerance. Cross-process exactness
and Redis are in tests/integration/gateway/plugins/."""

from __future__ import annotations

import calendar

import pytest
from reqkit import body_json, header, request, respond, run
from tests.kits.plugins import handler, problem_at

from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.pdk.counters import CounterStoreFull, HostCounters, LocalCounters
from carbonplane.gateway.plugins.rate_limiting.windows import WindowClock, reset_seconds
from carbonplane.proxy.app import LocalResponse

T0 = calendar.timegm((2026, 3, 14, 15, 9, 26)) * 1000 + 500  # 15:09:26.5 UTC


def limiter(conf: dict, *, now_ms: int = T0, counters=None, plugin: dict | None = None):
    h = handler(
        "rate-limiting",
        conf,
        plugin=plugin,
        services=PluginServices(counters=counters if counters is not None else LocalCounters()),
    )
    h.clock_ms = lambda: now_ms
    return h


def hit(h, **kw):
    """One request through the access and header-filter phases: (verdict, response headers)."""
    ctx = request(**kw)
    verdict = run(h.on_request(ctx))
    if verdict is None:
        respond(ctx, 200, [("X-RateLimit-Limit-Minute", "999")])
        h.on_response_head(ctx)
        return None, ctx.response.headers
    return verdict, verdict.headers


# -- schema ---------------------------------------------------------------------------------


def test_config_defaults_are_kongs():
    from tests.kits.plugins import config

    conf = config("rate-limiting", {"minute": 5})
    assert conf["limit_by"] == "consumer" and conf["policy"] == "local"
    assert conf["fault_tolerant"] is True and conf["hide_client_headers"] is False
    assert conf["error_code"] == 429 and conf["error_message"] == "API rate limit exceeded"
    assert conf["sync_rate"] == -1 and conf["redis"]["port"] == 6379
    assert conf["redis"]["timeout"] == 2000 and conf["algorithm"] == "fixed"


@pytest.mark.parametrize(
    "conf, where, message",
    [
        (
            {},
            "config.@entity",
            "at least one of these fields must be non-empty: 'config.second', "
            "'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
        ),
        (
            {"second": 10, "minute": 5},
            "config.@entity",
            "The limit for minute(5.0) cannot be lower than the limit for second(10.0)",
        ),
        ({"minute": 0}, "config.minute", "value must be greater than 0"),
        ({"minute": 5, "policy": "redis"}, "config.redis.host", "required field missing"),
        ({"minute": 5, "limit_by": "header"}, "config.header_name", "required field missing"),
        ({"minute": 5, "limit_by": "path"}, "config.path", "required field missing"),
        (
            {"minute": 5, "limit_by": "user"},
            "config.limit_by",
            "expected one of: consumer, credential, ip, service, header, path",
        ),
    ],
)
def test_invalid_configs_name_the_field(conf, where, message):
    assert problem_at("rate-limiting", conf, where) == message


def test_cluster_policy_is_refused_with_the_alternatives():
    message = problem_at("rate-limiting", {"minute": 5, "policy": "cluster"}, "config.policy")
    assert "not supported" in message and "'local'" in message and "'redis'" in message


def test_sync_rate_other_than_synchronous_is_refused():
    assert "only -1" in problem_at(
        "rate-limiting", {"minute": 5, "sync_rate": 10}, "config.sync_rate"
    )


def test_legacy_redis_fields_override_the_record():
    from tests.kits.plugins import config

    from carbonplane.gateway.plugins.rate_limiting.schema import redis_settings

    conf = config(
        "rate-limiting",
        {
            "minute": 5,
            "policy": "redis",
            "redis_host": "10.0.0.9",
            "redis_database": 2,
            "redis": {"port": 6380},
        },
    )
    settings = redis_settings(conf)
    assert (settings["host"], settings["port"], settings["database"]) == ("10.0.0.9", 6380, 2)


# -- admission and headers ------------------------------------------------------------------


def test_exactly_limit_requests_pass_then_429_with_kongs_body_and_headers():
    h = limiter({"minute": 3, "limit_by": "ip"})
    remaining = []
    for _ in range(3):
        verdict, headers = hit(h)
        assert verdict is None
        remaining.append(header(headers, "X-RateLimit-Remaining-Minute"))
        assert header(headers, "X-RateLimit-Limit-Minute") == "3"
    assert remaining == ["2", "1", "0"]
    verdict, headers = hit(h)
    assert isinstance(verdict, LocalResponse) and verdict.status == 429
    assert body_json(verdict) == {"message": "API rate limit exceeded", "request_id": "req-1"}
    assert header(headers, "X-RateLimit-Remaining-Minute") == "0"
    assert (
        header(headers, "RateLimit-Limit") == "3" and header(headers, "RateLimit-Remaining") == "0"
    )
    assert header(headers, "RateLimit-Reset") == "34"  # 60 - floor(26.5)
    assert header(headers, "Retry-After") == "34"


def test_upstream_ratelimit_headers_are_replaced_not_duplicated():
    h = limiter({"minute": 3, "limit_by": "ip"})
    _, headers = hit(h)
    values = [v for n, v in headers if n == b"x-ratelimit-limit-minute"]
    assert values == [b"3"]


def test_most_restrictive_period_drives_the_ratelimit_headers():
    h = limiter({"second": 5, "minute": 6, "limit_by": "ip"})
    for _ in range(4):
        hit(h)
    _, headers = hit(h)  # 5th: second 0 left, minute 1 left
    assert header(headers, "RateLimit-Limit") == "5"
    assert header(headers, "RateLimit-Remaining") == "0"
    assert header(headers, "RateLimit-Reset") == "1"
    assert header(headers, "X-RateLimit-Remaining-Minute") == "1"


def test_equal_remaining_prefers_the_longer_window():
    h = limiter({"second": 5, "hour": 5, "limit_by": "ip"})
    _, headers = hit(h)
    assert header(headers, "RateLimit-Limit") == "5"
    assert header(headers, "RateLimit-Reset") == str(3600 - (9 * 60 + 26))


def test_a_blocked_request_is_not_counted():
    h = limiter({"second": 1, "minute": 2, "limit_by": "ip"})
    assert hit(h)[0] is None
    assert hit(h)[0].status == 429  # second exhausted
    h.clock_ms = lambda: T0 + 1000
    verdict, headers = hit(h)  # next second: minute has 1 left, since the 429 did not count
    assert verdict is None and header(headers, "X-RateLimit-Remaining-Minute") == "0"


def test_hide_client_headers_sends_none_even_on_429():
    h = limiter({"minute": 1, "limit_by": "ip", "hide_client_headers": True})
    verdict, headers = hit(h)
    assert (
        verdict is None and header(headers, "X-RateLimit-Limit-Minute") == "999"
    )  # upstream's, untouched
    assert (
        header(headers, "X-RateLimit-Remaining-Minute") is None
        and header(headers, "RateLimit-Limit") is None
    )
    verdict, headers = hit(h)
    assert verdict.status == 429 and header(headers, "Retry-After") is None


def test_custom_error_code_and_message():
    h = limiter({"minute": 1, "limit_by": "ip", "error_code": 503, "error_message": "slow down"})
    hit(h)
    verdict, _ = hit(h)
    assert verdict.status == 503 and body_json(verdict)["message"] == "slow down"


# -- identifiers ----------------------------------------------------------------------------


def _admitted_after_exhausting(h, first: dict, second: dict) -> bool:
    assert hit(h, **first)[0] is None
    return hit(h, **second)[0] is None


def test_limit_by_ip_uses_the_engine_client_ip():
    h = limiter({"minute": 1, "limit_by": "ip"})
    assert _admitted_after_exhausting(h, {"client_ip": "10.0.0.1"}, {"client_ip": "10.0.0.2"})
    assert hit(h, client_ip="10.0.0.1")[0].status == 429


def test_limit_by_header_falls_back_to_ip_when_absent():
    h = limiter({"minute": 1, "limit_by": "header", "header_name": "X-Tenant"})
    assert _admitted_after_exhausting(
        h, {"headers": {"X-Tenant": "a"}}, {"headers": {"X-Tenant": "b"}}
    )
    assert hit(h, headers={"x-tenant": "a"}, client_ip="10.9.9.9")[0].status == 429
    assert hit(h, client_ip="10.9.9.9")[0] is None  # no header: counted by IP
    assert hit(h, client_ip="10.9.9.9")[0].status == 429


def test_limit_by_path_counts_only_the_configured_path():
    h = limiter({"minute": 1, "limit_by": "path", "path": "/api/trino"})
    assert hit(h, target="/api/trino")[0] is None
    assert hit(h, target="/api/trino", client_ip="10.1.1.1")[0].status == 429  # same path, any IP
    assert hit(h, target="/api/other", client_ip="10.1.1.1")[0] is None  # other path: by IP


def test_limit_by_consumer_falls_back_to_credential_then_ip():
    h = limiter({"minute": 1, "limit_by": "consumer"})

    def as_consumer(vars_: dict, ip: str = "10.0.0.1"):
        ctx = request(client_ip=ip)
        ctx.vars.update(vars_)
        return run(h.on_request(ctx))

    assert as_consumer({"consumer": {"id": "c1"}}) is None
    assert as_consumer({"consumer": {"id": "c1"}}, ip="10.0.0.2").status == 429
    assert as_consumer({"consumer": {"id": "c2"}}) is None
    assert as_consumer({"credential": {"id": "k1"}}) is None
    assert as_consumer({"credential": {"id": "k1"}}, ip="10.0.0.3").status == 429
    assert as_consumer({}, ip="10.0.0.4") is None
    assert as_consumer({}, ip="10.0.0.4").status == 429


def test_limit_by_service_shares_one_counter_for_all_clients():
    h = limiter({"minute": 1, "limit_by": "service"})
    ctx = request(client_ip="10.0.0.1")
    ctx.vars["service"] = {"id": "s1"}
    assert run(h.on_request(ctx)) is None
    ctx = request(client_ip="10.0.0.2")
    ctx.vars["service"] = {"id": "s1"}
    assert run(h.on_request(ctx)).status == 429


def test_counters_are_scoped_by_the_plugins_route_and_service():
    store = LocalCounters()
    a = limiter({"minute": 1, "limit_by": "ip"}, counters=store, plugin={"route": {"id": "r-a"}})
    b = limiter({"minute": 1, "limit_by": "ip"}, counters=store, plugin={"route": {"id": "r-b"}})
    assert hit(a)[0] is None and hit(b)[0] is None
    assert hit(a)[0].status == 429


# -- windows --------------------------------------------------------------------------------


def test_fixed_windows_are_utc_calendar_aligned():
    clock = WindowClock(("second", "minute", "hour", "day", "month", "year"), sliding=False)
    starts = [w.start_ms // 1000 for w in clock.windows(T0)]
    assert starts == [
        T0 // 1000,
        calendar.timegm((2026, 3, 14, 15, 9, 0)),
        calendar.timegm((2026, 3, 14, 15, 0, 0)),
        calendar.timegm((2026, 3, 14, 0, 0, 0)),
        calendar.timegm((2026, 3, 1, 0, 0, 0)),
        calendar.timegm((2026, 1, 1, 0, 0, 0)),
    ]
    month = clock.windows(T0)[4]
    assert month.end_ms // 1000 == calendar.timegm((2026, 4, 1, 0, 0, 0))
    assert reset_seconds(month, T0, False) == calendar.timegm((2026, 4, 1, 0, 0, 0)) - T0 // 1000


def test_a_new_minute_starts_from_zero():
    h = limiter({"minute": 1, "limit_by": "ip"})
    assert hit(h)[0] is None and hit(h)[0].status == 429
    h.clock_ms = lambda: calendar.timegm((2026, 3, 14, 15, 10, 0)) * 1000
    assert hit(h)[0] is None


def test_sliding_window_weighs_the_previous_window():
    minute0 = calendar.timegm((2026, 3, 14, 15, 9, 0)) * 1000
    h = limiter({"minute": 10, "limit_by": "ip", "algorithm": "sliding"}, now_ms=minute0 + 59_000)
    assert all(hit(h)[0] is None for _ in range(10))
    h.clock_ms = lambda: minute0 + 60_000 + 1_000  # weight 59/60: floor(9.83) = 9 used
    assert hit(h)[0] is None
    assert hit(h)[0].status == 429
    h.clock_ms = lambda: minute0 + 60_000 + 30_000  # weight 1/2: 1 + 5 = 6 used
    results = [hit(h)[0] is None for _ in range(5)]
    assert results == [True, True, True, True, False]


def test_sliding_fixed_comparison_at_the_window_edge():
    """A fixed window lets 2x the limit through around its edge; the sliding one does not."""
    minute0 = calendar.timegm((2026, 3, 14, 15, 9, 0)) * 1000
    passed = {}
    for algorithm in ("fixed", "sliding"):
        h = limiter(
            {"minute": 10, "limit_by": "ip", "algorithm": algorithm}, now_ms=minute0 + 59_500
        )
        n = sum(hit(h)[0] is None for _ in range(10))
        h.clock_ms = lambda: minute0 + 60_500
        passed[algorithm] = n + sum(hit(h)[0] is None for _ in range(10))
    # sliding: 10 + floor(10 * 59.5/60) = 19 used right after the edge, so one more passes
    assert passed == {"fixed": 20, "sliding": 11}


# -- store failures -------------------------------------------------------------------------


def _full_store(tmp_path) -> HostCounters:
    store = HostCounters.open(str(tmp_path / "full.counters"), slots=16)
    for i in range(1000):  # fill every slot with a live counter that outlives the test
        try:
            store.take([(f"filler-{i}".encode(), T0 + 10**10, 10, None, 0.0)], T0)
        except CounterStoreFull:
            pass
    assert store.live_counters(T0) == 16 + 15  # every slot of every probe window
    return store


def test_full_store_with_fault_tolerance_lets_requests_through(tmp_path):
    h = limiter({"minute": 1, "limit_by": "ip"}, counters=_full_store(tmp_path))
    verdict, headers = hit(h)
    assert verdict is None and header(headers, "RateLimit-Limit") is None
    assert hit(h)[0] is None  # not counted, so never limited


def test_full_store_without_fault_tolerance_answers_500(tmp_path):
    h = limiter(
        {"minute": 1, "limit_by": "ip", "fault_tolerant": False}, counters=_full_store(tmp_path)
    )
    verdict, _ = hit(h)
    assert verdict.status == 500 and body_json(verdict)["message"] == "An unexpected error occurred"


def test_redis_unreachable_follows_fault_tolerance():
    conf = {
        "minute": 1,
        "limit_by": "ip",
        "policy": "redis",
        "redis": {"host": "127.0.0.1", "port": 1, "timeout": 500},
    }
    assert hit(limiter(conf))[0] is None
    verdict, _ = hit(limiter({**conf, "fault_tolerant": False}))
    assert verdict.status == 500


# -- one strategy per config; the counter step's two implementations give one answer ------------


def test_the_config_is_compiled_into_one_strategy():
    from carbonplane.gateway.plugins.rate_limiting.strategy import LocalPolicy, RedisPolicy

    assert type(limiter({"minute": 5}).strategy) is LocalPolicy
    redis = limiter({"minute": 5, "policy": "redis", "redis": {"host": "127.0.0.1", "port": 1}})
    assert type(redis.strategy) is RedisPolicy
    assert "on_request" not in vars(redis) and "on_request" not in vars(limiter({"second": 1}))


@pytest.mark.parametrize(
    "conf",
    [
        {"second": 3, "minute": 7},
        {"minute": 5, "hour": 5, "day": 100, "limit_by": "header", "header_name": "x-key"},
        {"second": 2, "month": 4, "year": 9, "error_code": 503, "error_message": "slow down"},
        {"second": 2, "minute": 6, "algorithm": "sliding"},
    ],
)
def test_the_handler_answers_alike_on_the_python_and_native_counter_steps(conf, native_plugins):
    python = limiter(conf, counters=LocalCounters(impl="python"))
    native = limiter(conf, counters=LocalCounters(impl="native"))
    clients = ["203.0.113.7", "198.51.100.1"]
    refused = 0
    for step in range(60):
        now = T0 + step * 370  # crosses second and (with the offset) minute boundaries
        python.clock_ms = native.clock_ms = lambda now=now: now
        kw = {"headers": {"X-Key": f"k{step % 3}"}} if "header_name" in conf else {}
        client = clients[step % 2]
        (v1, h1), (v2, h2) = [hit(h, client_ip=client, **kw) for h in (python, native)]
        assert (v1 is None) == (v2 is None), step
        refused += v1 is not None
        if v1 is not None:
            assert (v1.status, v1.body, v1.headers) == (v2.status, v2.body, v2.headers), step
        assert h1 == h2, step
    assert 0 < refused < 60  # both outcomes compared
