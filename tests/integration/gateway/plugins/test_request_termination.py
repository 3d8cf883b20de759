"""request-termination over real sockets: Kong's error body, a custom body, a trigger; the
upstream is never reached when the request is terminated."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy


def test_default_termination(upstream):
    with ChainProxy(upstream.port, [handler("request-termination")]) as proxy:
        status, headers, body = http(proxy.port, "GET", "/api/datahub/x")
        html = http(proxy.port, "GET", "/x", headers={"Accept": "text/html"})
    # Kong's plugin default: {"message":"Service unavailable"}, JSON whatever is accepted
    assert status == 503 and body == {"message": "Service unavailable"}
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert len(headers["x-kong-request-id"]) == 32 and len(upstream.requests) == 0
    assert html[2] == body


def test_a_status_without_a_default_message_has_no_body(upstream):
    with ChainProxy(upstream.port, [handler("request-termination", {"status_code": 418})]) as proxy:
        status, headers, body = http(proxy.port, "GET", "/x")
    assert status == 418 and body == b"" and headers["content-length"] == "0"


def test_custom_body_and_trigger(upstream):
    conf = {
        "status_code": 418,
        "body": "maintenance",
        "content_type": "text/plain",
        "trigger": "X-Drain",
    }
    with ChainProxy(upstream.port, [handler("request-termination", conf)]) as proxy:
        status, _, doc = http(proxy.port, "GET", "/api/datahub/x")
        assert status == 200 and doc["name"] == "echo"
        status, headers, body = http(proxy.port, "GET", "/api/datahub/x", headers={"X-Drain": "1"})
        assert (status, body, headers["content-type"]) == (418, b"maintenance", "text/plain")
    assert len(upstream.requests) == 1
