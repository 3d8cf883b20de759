"""The ip-restriction plugin over real sockets: the client address the engine sees, Kong's
refusal body, and the trusted-proxy rule - X-Real-IP / X-Forwarded-For count only when the
peer is in the engine's trusted_ips."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy


def test_allow_and_deny_on_the_peer_address(upstream):
    with ChainProxy(upstream.port, [handler("ip-restriction", {"allow": ["127.0.0.0/8"]})]) as p:
        assert http(p.port, "GET", "/")[0] == 200
    with ChainProxy(upstream.port, [handler("ip-restriction", {"deny": ["127.0.0.1"]})]) as p:
        before = len(upstream.requests)
        status, _, body = http(p.port, "GET", "/")
        assert (status, body["message"]) == (403, "IP address not allowed: 127.0.0.1")
        assert len(upstream.requests) == before


def test_forwarded_headers_from_an_untrusted_peer_do_not_count(upstream):
    chain = [handler("ip-restriction", {"allow": ["10.0.0.0/8"], "status": 401, "message": "no"})]
    with ChainProxy(upstream.port, chain) as p:
        status, _, body = http(
            p.port, "GET", "/", headers={"X-Real-IP": "10.1.1.1", "X-Forwarded-For": "10.1.1.1"}
        )
        assert (status, body["message"]) == (401, "no")


def test_trusted_proxy_resolves_the_client_address(upstream):
    chain = [handler("ip-restriction", {"allow": ["10.0.0.0/8"], "deny": ["10.66.0.0/16"]})]
    with ChainProxy(upstream.port, chain, trusted_ips=("127.0.0.1",)) as p:
        assert http(p.port, "GET", "/", headers={"X-Real-IP": "10.1.1.1"})[0] == 200
        status, _, body = http(p.port, "GET", "/", headers={"X-Real-IP": "10.66.3.4"})
        assert (status, body["message"]) == (403, "IP address not allowed: 10.66.3.4")
        assert http(p.port, "GET", "/", headers={"X-Real-IP": "192.0.2.1"})[0] == 403
