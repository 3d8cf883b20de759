"""The gateway's edge against well-formed attacks, over real sockets (the real ``GatewayNode``
with its router and plugin chains, an upstream that records what it receives):

- a client's ``Connection`` header naming the fields an auth or transformation plugin sets
  must not remove them (an anonymous request would reach the upstream looking authenticated);
- a JWT whose segments carry ``=`` padding (or another spelling of the same bytes) is refused;
- a trickled upload holds no upstream connection on a route with ``request_buffering`` (Kong's
  default), and streams at once on a route without it.

The engine-level cases (response side, minimum body rate, tiny chunks) are in
tests/integration/proxy/test_engine_security.py.
"""

from __future__ import annotations

import socket
import time

import pytest
from gwharness import InProcessGateway, http, write_config
from tests.kits.jwts import sign
from tests.kits.net import wait_until
from tests.kits.standin import header

SECRET = "edge-jwt-secret-0123456789abcdef"


def token() -> str:
    claims = {"iss": "app", "exp": int(time.time()) + 300}
    return sign(claims, SECRET.encode(), "HS256", {"alg": "HS256", "typ": "JWT"})


@pytest.fixture
def gateway(upstream, tmp_path):
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "svc",
                "url": f"http://{upstream.address}",
                "routes": [
                    {
                        "name": "open",
                        "paths": ["/open"],
                        "plugins": [
                            {"name": "key-auth", "config": {"anonymous": "guest"}},
                            {
                                "name": "request-transformer",
                                "config": {"add": {"headers": ["X-Platform:edge"]}},
                            },
                        ],
                    },
                    {"name": "jwt", "paths": ["/jwt"], "plugins": [{"name": "jwt"}]},
                    {"name": "buffered", "paths": ["/buffered"]},
                    {"name": "streamed", "paths": ["/streamed"], "request_buffering": False},
                ],
            }
        ],
        "consumers": [
            {"username": "guest"},
            {
                "username": "ana",
                "keyauth_credentials": [{"key": "ana-key"}],
                "jwt_secrets": [{"key": "app", "secret": SECRET}],
            },
        ],
    }
    with InProcessGateway(write_config(tmp_path / "kong.yml", doc)) as gw:
        yield gw


def test_connection_cannot_remove_what_the_auth_and_transformer_plugins_set(gateway):
    status, _, doc = http(
        gateway.proxy_port,
        "GET",
        "/open",
        headers={
            "Connection": "X-Anonymous-Consumer, X-Consumer-Username, X-Platform, X-Own",
            "X-Own": "client's own field",
        },
    )
    assert status == 200
    assert header(doc, "x-anonymous-consumer") == "true"  # still marked anonymous
    assert header(doc, "x-consumer-username") == "guest"
    assert header(doc, "x-platform") == "edge"
    assert header(doc, "x-own") is None  # the client may drop its own fields
    status, _, doc = http(
        gateway.proxy_port,
        "GET",
        "/open",
        headers={"apikey": "ana-key", "Connection": "X-Consumer-Username, X-Credential-Identifier"},
    )
    assert status == 200 and header(doc, "x-consumer-username") == "ana"
    assert header(doc, "x-credential-identifier") is not None
    assert header(doc, "x-anonymous-consumer") is None


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: t + "=",
        lambda t: t + "==",
        lambda t: t.replace(".", "=.", 1),  # the header segment padded
        lambda t: t.replace(".", "==.", 2).replace("==.", ".", 1),  # the claims segment padded
    ],
)
def test_a_jwt_with_padding_is_refused(gateway, upstream, respell):
    good = token()
    assert (
        http(gateway.proxy_port, "GET", "/jwt", headers={"Authorization": f"Bearer {good}"})[0]
        == 200
    )
    before = len(upstream.requests)
    status, _, body = http(
        gateway.proxy_port, "GET", "/jwt", headers={"Authorization": f"Bearer {respell(good)}"}
    )
    assert status == 401 and body["message"].startswith("Bad token; "), body
    assert len(upstream.requests) == before


def _start_upload(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345".encode())
    return sock


def _finish_upload(sock: socket.socket) -> bytes:
    sock.sendall(b"67890")
    data = b""
    while b'"body": "1234567890"' not in data:
        piece = sock.recv(65536)
        assert piece, data
        data += piece
    sock.close()
    return data


def test_request_buffering_holds_the_upstream_back_until_the_body_is_in(gateway, upstream):
    streamed = _start_upload(gateway.proxy_port, "/streamed")  # request_buffering: false
    wait_until(lambda: upstream.connections == 1, what="the streamed upload's connection")
    assert _finish_upload(streamed).startswith(b"HTTP/1.1 200 ")
    buffered = [_start_upload(gateway.proxy_port, "/buffered") for _ in range(5)]
    time.sleep(0.3)
    # five half-sent uploads on the default route: no new upstream connection (streaming them
    # would need five: the idle one and four more)
    assert upstream.connections == 1 and len(upstream.requests) == 1
    assert all(_finish_upload(s).startswith(b"HTTP/1.1 200 ") for s in buffered)
    assert len(upstream.requests) == 6
