"""The response-transformer plugin over real sockets: the security headers the original platform
intended on proxied and proxy-made responses, Server / X-Powered-By removed, JSON bodies
rewritten and re-framed while streaming, other bodies untouched."""

from __future__ import annotations

import json

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy

SECURITY = {
    "add": {
        "headers": [
            "X-Content-Type-Options:nosniff",
            "X-Frame-Options:DENY",
            "Strict-Transport-Security:max-age=31536000; includeSubDomains",
        ]
    },
    "remove": {"headers": ["Server", "X-Powered-By"]},
}


def test_security_headers_on_proxied_responses(upstream):
    with ChainProxy(upstream.port, [handler("response-transformer", SECURITY)]) as p:
        status, hdrs, doc = http(p.port, "GET", "/page")
    assert status == 200 and doc["target"] == "/page"
    assert hdrs["x-content-type-options"] == "nosniff"
    assert hdrs["x-frame-options"] == "DENY"
    assert hdrs["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "x-powered-by" not in hdrs  # the stand-in sends one


def test_security_headers_on_refusals_made_by_other_plugins(upstream):
    chain = [
        handler("ip-restriction", {"deny": ["127.0.0.1"]}),
        handler("response-transformer", SECURITY),
    ]
    with ChainProxy(upstream.port, chain) as p:
        status, hdrs, _ = http(p.port, "GET", "/")
    assert status == 403 and hdrs["x-frame-options"] == "DENY"


def test_json_body_rewritten_and_reframed(upstream):
    config = {
        "remove": {"json": ["headers"]},
        "rename": {"json": ["name:upstream"]},
        "add": {"json": ["gateway:true"], "json_types": ["boolean"]},
    }
    with ChainProxy(upstream.port, [handler("response-transformer", config)]) as p:
        status, hdrs, doc = http(p.port, "GET", "/j")  # keep-alive: the new body is chunked
    assert status == 200
    assert hdrs["transfer-encoding"] == "chunked" and "content-length" not in hdrs
    assert "headers" not in doc and doc["upstream"] == "echo" and doc["gateway"] is True


def test_non_json_bodies_untouched(upstream):
    config = {"remove": {"json": ["target"]}, "replace": {"headers": ["Content-Type:text/plain"]}}
    with ChainProxy(upstream.port, [handler("response-transformer", config)]) as p:
        status, hdrs, raw = http(p.port, "GET", "/t")
    assert status == 200 and hdrs["content-type"] == "text/plain"
    assert json.loads(raw)["target"] == "/t"
