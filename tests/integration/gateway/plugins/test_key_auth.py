"""The key-auth plugin over real sockets: keys in headers and query strings, Kong 3's 401s,
hide_credentials (the upstream never sees the key), anonymous fallback, duplicate keys."""

from __future__ import annotations

import pytest
from gwharness import http
from tests.kits.plugins import gateway, handler
from tests.kits.standin import seen

from .proxykit import ChainProxy

GW = gateway(
    [
        {"username": "reporter", "keyauth_credentials": [{"key": "k-reporter-1"}]},
        {"username": "anonymous-reader"},
    ]
)


@pytest.fixture
def proxy(upstream):
    with ChainProxy(
        upstream.port, [handler("key-auth", {"key_names": ["apikey", "x-api-key"]}, GW)]
    ) as p:
        yield p


def test_key_in_header_and_query(proxy):
    status, _, doc = http(proxy.port, "GET", "/r", headers={"X-API-Key": "k-reporter-1"})
    assert status == 200 and seen(doc, "x-consumer-username") == ["reporter"]
    assert seen(doc, "x-api-key") == ["k-reporter-1"]
    status, _, doc = http(proxy.port, "GET", "/r?apikey=k-reporter-1&page=2")
    assert status == 200 and doc["target"] == "/r?apikey=k-reporter-1&page=2"


def test_refusals(proxy, upstream):
    before = len(upstream.requests)
    for headers, path, message in (
        ({}, "/", "No API key found in request"),
        ({"apikey": "wrong"}, "/", "Unauthorized"),
        ({}, "/?apikey=a&apikey=b", "Duplicate API key found"),
    ):
        status, hdrs, body = http(proxy.port, "GET", path, headers=headers)
        assert (status, body["message"]) == (401, message)
        assert hdrs["www-authenticate"] == "Key"
    assert len(upstream.requests) == before


def test_hide_credentials(upstream):
    chain = [handler("key-auth", {"key_names": ["apikey"], "hide_credentials": True}, GW)]
    with ChainProxy(upstream.port, chain) as proxy:
        status, _, doc = http(
            proxy.port, "GET", "/r?a=1&apikey=k-reporter-1&b=2", headers={"apikey": "k-reporter-1"}
        )
        assert status == 200
        assert doc["target"] == "/r?a=1&b=2"
        assert seen(doc, "apikey") == []
        assert seen(doc, "x-consumer-username") == ["reporter"]


def test_anonymous_fallback(upstream):
    chain = [handler("key-auth", {"anonymous": "anonymous-reader"}, GW)]
    with ChainProxy(upstream.port, chain) as proxy:
        status, _, doc = http(
            proxy.port, "GET", "/r", headers={"apikey": "wrong", "X-Anonymous-Consumer": "false"}
        )
        assert status == 200
        assert seen(doc, "x-anonymous-consumer") == ["true"]
        assert seen(doc, "x-consumer-username") == ["anonymous-reader"]
