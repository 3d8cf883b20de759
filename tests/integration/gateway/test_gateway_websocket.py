"""WebSocket through the gateway over real sockets: a real client (``websockets``) and a real
upstream (``wskit.WsUpstream``) on each side of an in-process gateway.

Routes: ``/ws`` (protocols ws), ``/chat`` (http/https: Kong proxies handshakes there too),
``/secure`` (ws, key-auth), ``/quiet`` (ws, a service with 1 s read/write timeouts).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from gwharness import InProcessGateway, http, write_config
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from wskit import WsUpstream, handshake, masked_text_frame, read_until_closed


def _doc(up_port: int) -> dict:
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "echo",
                "url": f"ws://127.0.0.1:{up_port}",
                "routes": [
                    {"name": "ws", "protocols": ["ws"], "paths": ["/ws"], "strip_path": False},
                    {"name": "chat", "paths": ["/chat"], "strip_path": False},
                    {
                        "name": "secure",
                        "protocols": ["ws"],
                        "paths": ["/secure"],
                        "strip_path": False,
                        "plugins": [{"name": "key-auth"}],
                    },
                    {
                        "name": "passthrough",
                        "protocols": ["ws"],
                        "paths": ["/close-after", "/plain"],
                        "strip_path": False,
                    },
                ],
            },
            {
                "name": "quiet",
                "url": f"ws://127.0.0.1:{up_port}",
                "read_timeout": 1000,
                "write_timeout": 1000,
                "routes": [{"protocols": ["ws"], "paths": ["/quiet"], "strip_path": False}],
            },
        ],
        "consumers": [{"username": "reporter", "keyauth_credentials": [{"key": "k-1"}]}],
    }


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    up = WsUpstream().start()
    path = write_config(tmp_path_factory.mktemp("ws") / "ws.yml", _doc(up.port))
    try:
        with InProcessGateway(path) as gw:
            yield gw, up
    finally:
        up.stop()


def _url(gw, path: str) -> str:
    return f"ws://127.0.0.1:{gw.proxy_port}{path}"


def _open_connections(gw) -> int:
    return gw.call(lambda: len(gw.node.server.connections))


def _wait(predicate, limit: float = 5.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_echo_text_and_binary_on_a_ws_route(rig):
    gw, up = rig
    with connect(_url(gw, "/ws/room"), open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=5) == b"\x00\x01\xff"
    # the upstream got Kong's handshake lines and the proxy's forwarding headers
    assert up.last_headers["upgrade"] == "websocket"
    assert "upgrade" in up.last_headers["connection"].lower()
    assert up.last_headers["x-forwarded-for"] == "127.0.0.1"


def test_http_route_proxies_a_handshake_too(rig):
    gw, _ = rig
    with connect(_url(gw, "/chat"), open_timeout=10) as ws:
        ws.send("over an http route")
        assert ws.recv(timeout=5) == "over an http route"


def test_plain_request_on_a_ws_route_gets_426(rig):
    gw, up = rig
    before = up.opened
    status, headers, body = http(gw.proxy_port, "GET", "/ws/room")
    assert status == 426
    assert body["message"] == "Please use WebSocket protocol"
    assert headers["upgrade"] == "websocket"
    assert up.opened == before


def test_key_auth_refuses_the_handshake_with_401(rig):
    gw, up = rig
    before = up.opened
    with pytest.raises(InvalidStatus) as refused:
        connect(_url(gw, "/secure"), open_timeout=10)
    assert refused.value.response.status_code == 401
    assert b"No API key found in request" in refused.value.response.body
    assert up.opened == before  # no tunnel, the upstream never saw it
    with connect(_url(gw, "/secure"), additional_headers={"apikey": "k-1"}) as ws:
        ws.send("authorised")
        assert ws.recv(timeout=5) == "authorised"
    assert up.last_headers["x-consumer-username"] == "reporter"


def test_close_from_the_client_ends_both_sides(rig):
    gw, up = rig
    # earlier tests' connections to this shared upstream may still be closing: let them end first
    assert _wait(lambda: up.closed == up.opened)
    closed = up.closed
    with connect(_url(gw, "/ws/c")) as ws:
        ws.send("x")
        ws.recv(timeout=5)
        ws.close(1000, "client done")
    assert _wait(lambda: up.closed == closed + 1)
    assert up.close_codes[-1] == 1000
    assert _wait(lambda: _open_connections(gw) == 0)


def test_close_from_the_server_reaches_the_client(rig):
    gw, _ = rig
    with connect(_url(gw, "/close-after")) as ws:
        assert ws.recv(timeout=5) == "bye"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4000
        assert ws.close_reason == "server done"
    assert _wait(lambda: _open_connections(gw) == 0)


def test_a_large_message_both_ways(rig):
    gw, _ = rig
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # 8 MiB
    with connect(_url(gw, "/ws/big"), max_size=32 * 1024 * 1024) as ws:
        ws.send(big)
        assert ws.recv(timeout=30) == big


def test_many_concurrent_tunnels(rig):
    gw, up = rig
    errors: list[str] = []
    opened = up.opened

    def client(n: int) -> None:
        try:
            with connect(_url(gw, f"/ws/{n}"), open_timeout=20) as ws:
                for i in range(10):
                    ws.send(f"{n}:{i}")
                    got = ws.recv(timeout=20)
                    if got != f"{n}:{i}":
                        errors.append(f"client {n} got {got!r}")
        except Exception as exc:  # noqa: BLE001 - reported below with the client number
            errors.append(f"client {n}: {exc!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert up.opened - opened == 60
    assert _wait(lambda: _open_connections(gw) == 0)


def test_a_client_that_goes_silent_after_the_upgrade_is_closed(rig):
    gw, _ = rig
    sock, head, _ = handshake(gw.proxy_port, "/quiet")
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        started = time.monotonic()
        read_until_closed(sock, 10)  # the 1 s idle timeout of the service closes the tunnel
        assert 0.8 < time.monotonic() - started < 5
    finally:
        sock.close()
    assert _wait(lambda: _open_connections(gw) == 0)


def test_half_close_from_the_client_is_passed_on(rig):
    gw, _ = rig
    sock, head, rest = handshake(gw.proxy_port, "/ws/half")
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        lower = head.lower()
        assert b"\r\nupgrade: websocket" in lower and b"\r\nconnection: upgrade" in lower
        assert b"sec-websocket-accept:" in lower
        sock.sendall(masked_text_frame("ping?"))
        echoed = rest
        while len(echoed) < 7:
            echoed += sock.recv(65536)
        assert echoed == b"\x81\x05ping?"
        sock.shutdown(socket.SHUT_WR)  # FIN: the upstream sees EOF and closes; so do we
        read_until_closed(sock, 5)
    finally:
        sock.close()
    assert _wait(lambda: _open_connections(gw) == 0)


def test_a_200_answer_to_a_handshake_is_a_normal_response(rig):
    gw, _ = rig
    sock, head, rest = handshake(gw.proxy_port, "/plain")
    try:
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"upgrade:" not in head.lower()
        while len(rest) < len(b"plain answer\n"):
            rest += sock.recv(65536)
        assert rest == b"plain answer\n"
        # the connection is still HTTP: a next request on it is served
        sock.sendall(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 ")
    finally:
        sock.close()
