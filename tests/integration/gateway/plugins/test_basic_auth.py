"""The basic-auth plugin over real sockets: valid and invalid credentials, Kong's 401 body and
Basic challenge, hide_credentials (the upstream never sees the password), anonymous fallback,
and nothing reaching the upstream on a refusal."""

from __future__ import annotations

import base64

from gwharness import http
from tests.kits.plugins import gateway, handler
from tests.kits.standin import seen as seen_header

from .proxykit import ChainProxy

GW = gateway(
    [
        {
            "username": "reporter",
            "basicauth_credentials": [{"username": "rep", "password": "correct horse"}],
        },
        {"username": "anonymous-reader"},
    ]
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_valid_credentials_reach_the_upstream_with_identity(upstream):
    with ChainProxy(upstream.port, [handler("basic-auth", {}, GW)]) as proxy:
        status, _, doc = http(
            proxy.port, "GET", "/r", headers={"Authorization": basic("rep", "correct horse")}
        )
        assert status == 200
        assert seen_header(doc, "x-consumer-username") == ["reporter"]
        assert seen_header(doc, "x-credential-identifier") == ["rep"]
        assert seen_header(doc, "authorization") == [basic("rep", "correct horse")]


def test_refusals_never_reach_the_upstream(upstream):
    before = len(upstream.requests)
    with ChainProxy(upstream.port, [handler("basic-auth", {"realm": "reports"}, GW)]) as proxy:
        for headers in (
            {},
            {"Authorization": basic("rep", "wrong")},
            {"Authorization": basic("nobody", "correct horse")},
            {"Authorization": "Basic %%%"},
            {"Proxy-Authorization": basic("rep", "correct hors")},
        ):
            status, hdrs, body = http(proxy.port, "GET", "/r", headers=headers)
            assert (status, body["message"]) == (401, "Unauthorized"), headers
            assert hdrs["www-authenticate"] == 'Basic realm="reports"'
            assert body["request_id"]
    assert len(upstream.requests) == before


def test_hide_credentials(upstream):
    chain = [handler("basic-auth", {"hide_credentials": True}, GW)]
    with ChainProxy(upstream.port, chain) as proxy:
        status, _, doc = http(
            proxy.port, "GET", "/r", headers={"Authorization": basic("rep", "correct horse")}
        )
        assert status == 200 and seen_header(doc, "authorization") == []
        assert "correct horse" not in str(doc)


def test_anonymous_fallback_overrides_spoofed_headers(upstream):
    chain = [handler("basic-auth", {"anonymous": "anonymous-reader"}, GW)]
    with ChainProxy(upstream.port, chain) as proxy:
        status, _, doc = http(
            proxy.port,
            "GET",
            "/r",
            headers={
                "Authorization": basic("rep", "wrong"),
                "X-Consumer-Username": "reporter",
                "X-Anonymous-Consumer": "false",
            },
        )
        assert status == 200
        assert seen_header(doc, "x-consumer-username") == ["anonymous-reader"]
        assert seen_header(doc, "x-anonymous-consumer") == ["true"]
