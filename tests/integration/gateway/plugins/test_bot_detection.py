"""The bot-detection plugin over real sockets: Kong's built-in list and deny/allow rules,
Kong's 403 and 400 bodies, and nothing refused reaching the upstream."""

from __future__ import annotations

import pytest
from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy, raw_exchange


@pytest.fixture
def proxy(upstream):
    chain = [handler("bot-detection", {"allow": ["^Googlebot-Image/"], "deny": ["^Legacy/"]})]
    with ChainProxy(upstream.port, chain) as p:
        yield p


def test_bots_refused_browsers_and_allowed_bots_pass(proxy, upstream):
    before = len(upstream.requests)
    for agent in ("Mozilla/5.0 (compatible; bingbot/2.0)", "Legacy/2.1", "axios/1.6.2"):
        status, _, body = http(proxy.port, "GET", "/", headers={"User-Agent": agent})
        assert (status, body["message"]) == (403, "Forbidden"), agent
    assert len(upstream.requests) == before
    for agent in ("Googlebot-Image/1.0", "curl/8.4.0", "Mozilla/5.0 (X11; Linux x86_64)"):
        status, _, _ = http(proxy.port, "GET", "/", headers={"User-Agent": agent})
        assert status == 200, agent
    assert len(upstream.requests) == before + 3


def test_two_user_agents_are_a_400(proxy):
    answer = raw_exchange(
        proxy.port,
        b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: a\r\nUser-Agent: b\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"message":"Only one User-Agent header allowed"' in answer
