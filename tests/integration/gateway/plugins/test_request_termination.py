"""request-termination over real sockets: Kong's error body, a custom body, a trigger; the
upstream is never reached when the request is terminated."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy


def test_default_termination(upstream):
    with ChainProxy(upstream.port, [handler("request-termination")]) as proxy:
        status, headers, body = http(proxy.port, "GET", "/api/datahub/x")
    assert status == 503 and body["message"] == "The upstream server is currently unavailable"
    assert body["request_id"] == headers["x-request-id"] and len(upstream.requests) == 0


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
