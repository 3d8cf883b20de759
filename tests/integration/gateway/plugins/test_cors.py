"""cors over real sockets: a preflight answered by the gateway (the upstream never sees it), a
preflight passed through with preflight_continue, and CORS headers on a proxied response."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy

CONF = {
    "origins": ["https://254carbon.com", r"https://.*\.254carbon\.com"],
    "methods": ["GET", "POST", "OPTIONS"],
    "headers": ["Authorization", "Content-Type"],
    "exposed_headers": ["X-Request-Id"],
    "credentials": True,
    "max_age": 3600,
}


def test_preflight_is_answered_by_the_gateway(upstream):
    with ChainProxy(upstream.port, [handler("cors", CONF)]) as proxy:
        status, headers, body = http(
            proxy.port,
            "OPTIONS",
            "/api/datahub/entities",
            headers={
                "Origin": "https://portal.254carbon.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert status == 200 and body == b"" and headers["content-length"] == "0"
    assert headers["access-control-allow-origin"] == "https://portal.254carbon.com"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-methods"] == "GET,POST,OPTIONS"
    assert headers["access-control-allow-headers"] == "Authorization,Content-Type"
    assert headers["access-control-max-age"] == "3600" and headers["vary"] == "Origin"
    assert len(upstream.requests) == 0


def test_simple_request_gets_cors_headers_and_foreign_origins_do_not(upstream):
    with ChainProxy(upstream.port, [handler("cors", CONF)]) as proxy:
        status, headers, doc = http(
            proxy.port, "GET", "/api/datahub/entities", headers={"Origin": "https://254carbon.com"}
        )
        assert status == 200 and doc["name"] == "echo"
        assert headers["access-control-allow-origin"] == "https://254carbon.com"
        assert headers["access-control-expose-headers"] == "X-Request-Id"
        assert headers["vary"] == "Origin"
        status, headers, _ = http(
            proxy.port,
            "GET",
            "/api/datahub/entities",
            headers={"Origin": "https://254carbon.com.evil.example"},
        )
        assert status == 200 and "access-control-allow-origin" not in headers


def test_preflight_continue_reaches_the_upstream(upstream):
    with ChainProxy(
        upstream.port, [handler("cors", {**CONF, "preflight_continue": True})]
    ) as proxy:
        status, headers, doc = http(
            proxy.port,
            "OPTIONS",
            "/api/datahub/x",
            headers={"Origin": "https://254carbon.com", "Access-Control-Request-Method": "GET"},
        )
    assert status == 200 and doc["method"] == "OPTIONS" and len(upstream.requests) == 1
    assert "access-control-allow-origin" not in headers
