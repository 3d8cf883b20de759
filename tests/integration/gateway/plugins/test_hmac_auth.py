"""The hmac-auth plugin over real sockets: signed requests pass with the consumer's identity,
forged signatures, stale dates (replays) and bodies altered after signing are refused, and a
refused body never reaches the upstream (request buffering off: the body is held back until
its Digest is verified)."""

from __future__ import annotations

import socket

import pytest
from gwharness import http
from tests.kits.plugins import gateway, handler
from tests.kits.standin import seen as seen_header
from tests.unit.gateway.plugins.hmackit import body_digest, http_date, signed_headers

from .proxykit import ChainProxy

GW = gateway(
    [
        {
            "username": "billing",
            "hmacauth_credentials": [{"username": "billing-app", "secret": "b1ll1ng-s3cret"}],
        }
    ]
)


def sign(method="GET", target="/r", **kw):
    return signed_headers("billing-app", "b1ll1ng-s3cret", method=method, target=target, **kw)


@pytest.fixture
def proxy(upstream):
    chain = [handler("hmac-auth", {"validate_request_body": True, "hide_credentials": True}, GW)]
    with ChainProxy(upstream.port, chain) as p:
        yield p


def test_signed_request_passes(proxy):
    status, _, doc = http(proxy.port, "GET", "/r?x=1", headers=sign(target="/r?x=1"))
    assert status == 200 and doc["target"] == "/r?x=1"
    assert seen_header(doc, "x-consumer-username") == ["billing"]
    assert seen_header(doc, "x-credential-identifier") == ["billing-app"]
    assert seen_header(doc, "authorization") == []  # hide_credentials


def test_forged_replayed_and_retargeted_requests_are_refused(proxy, upstream):
    before = len(upstream.requests)
    forged = signed_headers("billing-app", "guessed-secret")
    stale = sign(headers={"Date": http_date(-301 - 5)})
    cases = (
        (forged, "/r", "HMAC signature does not match"),
        (sign(target="/r"), "/admin", "HMAC signature does not match"),
        (
            stale,
            "/r",
            "HMAC signature cannot be verified, a valid date or x-date header is "
            "required for HMAC Authentication",
        ),
    )
    for headers, path, message in cases:
        status, hdrs, body = http(proxy.port, "GET", path, headers=headers)
        assert (status, body["message"]) == (401, message)
        assert hdrs["www-authenticate"] == "hmac"
    assert len(upstream.requests) == before


def test_body_with_its_digest_passes_and_an_altered_body_never_reaches_upstream(proxy, upstream):
    body = b'{"invoice": 42, "amount": "10.00"}'
    headers = sign("POST", headers={"Digest": body_digest(body)}, names=["date", "digest"])
    status, _, doc = http(proxy.port, "POST", "/r", headers=headers, body=body)
    assert status == 200 and doc["body"] == body.decode()
    before = len(upstream.requests)
    altered = body.replace(b"10.00", b"99.00")
    status, _, answer = http(proxy.port, "POST", "/r", headers=headers, body=altered)
    assert (status, answer["message"]) == (401, "HMAC signature does not match")
    assert len(upstream.requests) == before


def test_the_upstream_sees_no_byte_of_a_body_that_fails_its_digest():
    """Request buffering off: the upstream connection is open and has the head before the body
    ends; the body's pieces must still be held back until the Digest verifies. The test itself
    plays the upstream, so it sees every byte the proxy forwards."""
    body = b"a" * 5000
    headers = sign("POST", headers={"Digest": body_digest(body)}, names=["date", "digest"])
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        chain = [handler("hmac-auth", {"validate_request_body": True}, GW)]
        with ChainProxy(listener.getsockname()[1], chain) as proxy:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as client:
                start = f"POST /r HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
                client.sendall(f"{start}{head}\r\n".encode())
                client.sendall(body[:4000])
                upstream_side, _ = listener.accept()
                with upstream_side:
                    upstream_side.settimeout(10)
                    seen = b""
                    while b"\r\n\r\n" not in seen:
                        seen += upstream_side.recv(65536)
                    client.sendall(b"b" * 1000)  # the last kilobyte differs from what was signed
                    answer = client.recv(65536)
                    assert answer.startswith(b"HTTP/1.1 401")
                    upstream_side.settimeout(2)
                    try:
                        while piece := upstream_side.recv(65536):
                            seen += piece
                    except TimeoutError:
                        pass
    assert seen.startswith(b"POST /r HTTP/1.1")
    assert seen.endswith(b"\r\n\r\n")  # the head, and not one byte of the body
